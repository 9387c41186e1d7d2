"""The cache side of the LiteLLM transport: backend, namespace, stale lookups, parsed memo.

requests-cache does the storing; what lives here is everything the portal adds around it, kept
out of :mod:`.transport` so that module is only the request loop: which backend a
``HTTP_CACHE_URL`` names, a namespace per deployment (so two portals on one Redis never share
answers), reading an *expired* entry back for the stale-on-error fallback, the memo that spares a
warm view from decoding the same cached bytes again (:mod:`.memo`), deleting an answer that could
not be read, and invalidation after a key was created or deleted. A broken cache is logged and
bypassed, never allowed to hide LiteLLM's real answer or error.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any
from urllib.parse import urlsplit

import requests
from requests_cache import BaseCache, CachedSession, RedisCache, SQLiteCache

from .errors import LiteLLMBadResponse
from .memo import MISSING, ParsedMemo
from .parsing import ShapeError

__all__ = ["CacheMixin", "build_cache_backend", "cache_namespace"]


def cache_namespace(base_url: str, master_key: str) -> str:
    """A shared-cache namespace per LiteLLM deployment and master key.

    The cache key leaves the Authorization header out (so the master key is never stored), so
    two portals on one Redis database must not share entries across proxies or master keys: the
    namespace carries a digest of both (never the key itself).
    """
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\0{master_key}".encode()).hexdigest()[:16]
    return f"litellm_http_cache:{digest}"


def build_cache_backend(
    http_cache_url: str | None, instance_path: str, namespace: str = "litellm_http_cache"
) -> BaseCache:
    """Build the requests-cache backend named by ``HTTP_CACHE_URL``.

    ``"memory"`` → in-process dict (tests); ``"redis://…"``/``"rediss://…"`` → Redis (shared by
    all gunicorn workers), its keys under ``namespace``; ``"sqlite:///path"``, a bare file path,
    or empty → SQLite file, by default ``<instance_path>/http_cache.sqlite``.
    """
    url = (http_cache_url or "").strip()
    if url.lower() == "memory":
        return BaseCache()
    if url.lower().startswith(("redis://", "rediss://", "unix://")):
        import redis

        return RedisCache(namespace=namespace, connection=redis.Redis.from_url(url))
    if url.lower().startswith("sqlite:"):
        # sqlite:///relative/or/abs — strip the scheme like SQLAlchemy does (3 slashes = path).
        path = url[len("sqlite:") :]
        path = path[3:] if path.startswith("///") else path.lstrip("/")
        if url.lower().startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
    else:
        path = url
    if not path:
        path = os.path.join(instance_path, "http_cache.sqlite")
    elif not os.path.isabs(path):
        path = os.path.join(instance_path, path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    # WAL + busy timeout: several gunicorn workers share the file.
    return SQLiteCache(path, wal=True, busy_timeout=5000)


class CacheMixin:
    """Cache helpers of :class:`~.transport.LiteLLMTransport`. Needs its ``session`` (a
    ``CachedSession``), ``parsed_memo``, ``logger``, ``stats`` and ``_lock``."""

    session: CachedSession
    parsed_memo: ParsedMemo
    logger: logging.Logger
    stats: Any
    _lock: Any

    def _cache_key(self, method: str, url: str, params: Any) -> str:
        """The requests-cache key of this request (every query parameter is part of it)."""
        prepared = self.session.prepare_request(requests.Request(method, url, params=params))
        return self.session.cache.create_key(prepared)

    def _cached_response(self, method: str, url: str, params: Any):
        """The stored (possibly expired) response for this exact request and its cache key."""
        try:
            key = self._cache_key(method, url, params)
            return key, self.session.cache.get_response(key)
        except Exception:  # a broken cache must never hide the real error
            self.logger.warning("litellm cache lookup failed", exc_info=False)
            return None, None

    def _memo_lookup(
        self, parse: Callable[[Any], Any], request: str | tuple | None, response: Any
    ) -> tuple[tuple | None, Any]:
        """``(memo key, memoised parse result or MISSING)`` for a response read from the cache.

        The key identifies the exact cached bytes: the parser, the requests-cache key of the
        entry (the one the cache storage read it under, else ``request``: that key, or
        ``(method, url, params)`` to compute it), the entry's ``created_at`` and a digest of
        the body. A response that cannot be identified gets no key (parsed, not memoised).
        """
        created_at = getattr(response, "created_at", None)
        if not self.parsed_memo.maxsize or created_at is None:
            return None, MISSING
        request = getattr(response, "cache_key", None) or request
        if not request:
            return None, MISSING
        if isinstance(request, tuple):
            try:
                request = self._cache_key(*request)
            except Exception:  # a broken cache must never break a call
                return None, MISSING
        digest = hashlib.blake2b(response.content or b"", digest_size=16).digest()
        memo_key = (parse, request, created_at, digest)
        return memo_key, self.parsed_memo.get(memo_key)

    def _parse_body(
        self, parse: Callable[[Any], Any], body: Any, memo_key: tuple | None, path: str
    ) -> Any:
        """Run ``parse`` on a decoded body (shape errors become LiteLLMBadResponse) and memoise
        the result under ``memo_key``."""
        try:
            parsed = parse(body)
        except (ShapeError, TypeError, ValueError, ArithmeticError) as exc:
            raise LiteLLMBadResponse(str(exc), status=200, route=path) from None
        if memo_key is not None:
            self.parsed_memo.put(memo_key, parsed)
        return parsed

    def _drop_unreadable(self, method: str, url: str, params: Any) -> None:
        """Delete the cached answer to this request: it could not be decoded or parsed.

        requests-cache stores every 200 before the portal reads it, so without this an HTML
        page or cut JSON would be served from the cache (error panel included) for the whole
        cache lifetime, and Retry would read the same entry again.
        """
        try:
            self.session.cache.delete(self._cache_key(method, url, params))
        except Exception:  # a broken cache must never hide the real error
            self.logger.warning("litellm cache delete failed", exc_info=False)
            return
        with self._lock:
            self.stats.bad_entries_dropped += 1

    def _invalidate(self, *paths: str) -> None:
        """Drop cached responses for these paths (after a key was created or deleted)."""
        try:
            cache = self.session.cache
            responses = cache.responses
            # requests-cache's SQLite backend shares one connection between threads; a write by
            # another thread while this walk's cursor is open can leave that connection inside a
            # transaction for good, and every later write then spins under the backend's lock
            # (the whole process freezes). So the walk holds that lock, and only for the keys.
            with getattr(responses, "_lock", None) or nullcontext():
                keys = list(responses.keys())
            doomed = [
                key
                for key in keys
                if urlsplit(getattr(responses.get(key), "url", "") or "").path.endswith(paths)
            ]
            if doomed:
                cache.delete(*doomed)
        except Exception:
            self.logger.warning("litellm cache invalidation failed for %s", ", ".join(paths))
