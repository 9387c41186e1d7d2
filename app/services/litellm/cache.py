"""The cache side of the LiteLLM client: backend, namespace, parsed memo, stored answers.

requests-cache does the storing; what lives here is everything the portal adds around it: which
backend a ``HTTP_CACHE_URL`` names, a namespace per deployment (so two portals on one Redis never
share answers), the memo that spares a warm view from decoding the same cached bytes again,
reading an *expired* entry back for the stale-on-error fallback, deleting an answer that could
not be read, and invalidation after a key was created or deleted. A broken cache is logged and
bypassed, never allowed to hide LiteLLM's real answer or error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests_cache import BaseCache, CachedSession, RedisCache, create_key

from .sqlite_cache import SerializedSQLiteCache

__all__ = [
    "MISSING",
    "ParsedMemo",
    "StoredAnswers",
    "build_cache_backend",
    "cache_namespace",
    "labelled_key",
]

MISSING: Any = object()  # what :meth:`ParsedMemo.get` returns for an unknown key


def cache_namespace(base_url: str, master_key: str, kind: str = "litellm_http_cache") -> str:
    """A shared-cache namespace per LiteLLM deployment and master key.

    The cache key leaves the Authorization header out (so the master key is never stored), so
    two portals on one Redis database must not share entries across proxies or master keys: the
    namespace carries a digest of both (never the key itself). ``kind`` keeps the usage day
    cache's keys apart from requests-cache's, which walks every key under its own namespace.
    """
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\0{master_key}".encode()).hexdigest()[:16]
    return f"{kind}:{digest}"


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
    return SerializedSQLiteCache(path, wal=True, busy_timeout=5000)


def _subject_tag(subject: str | None) -> str:
    """A digest of the user or key an answer concerns ("all" for none): safe in any cache key
    (requests-cache's SQLite backend puts keys into its SQL text as they are)."""
    return hashlib.sha256(subject.encode()).hexdigest()[:16] if subject else "all"


def _path_tag(path: str) -> str:
    return path.strip("/").replace("/", ".")


def labelled_key(request: Any, **kwargs: Any) -> str:
    """requests-cache's own key, prefixed with the path and the user (``user_id``) or key
    (``key``) the answer concerns: ``key.list~<user digest>~<key>``. Invalidation after a key
    change then picks the entries to drop by reading keys only, never the cached answers."""
    parts = urlsplit(request.url)
    query = parse_qs(parts.query)
    subject = (query.get("user_id") or query.get("key") or [None])[0]
    return f"{_path_tag(parts.path)}~{_subject_tag(subject)}~{create_key(request, **kwargs)}"


class ParsedMemo:
    """Bounded, thread-safe LRU map from a memo key to a parsed cached response.

    A warm usage view reads the same cached response again and again; decoding its JSON and
    building the typed results each time cost about half of the view's CPU. The memo key names
    those exact bytes (see :meth:`StoredAnswers.memo_key`), so a refreshed answer is parsed
    afresh and two keys' or two users' answers never share an entry.

    Values must be immutable (frozen dataclasses, tuples, read-only mappings): every caller that
    hits an entry gets the same object. ``hits``/``misses`` are counters for tests and benchmarks.
    ``maxsize`` 0 disables the memo.
    """

    def __init__(self, maxsize: int = 256, *, max_weight: int | None = None) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = int(maxsize)
        # With ``max_weight`` the entries' weights (see :meth:`put`) are bounded too, so many
        # small entries and a few big ones share one budget.
        self.max_weight = max_weight
        self.weight = 0
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._weights: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value stored under ``key`` (now the most recently used) or :data:`MISSING`."""
        with self._lock:
            value = self._data.get(key, MISSING)
            if value is MISSING:
                self.misses += 1
            else:
                self.hits += 1
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any, weight: int = 1) -> None:
        """Store ``value``; the least recently used entries go once ``maxsize`` (or the
        total ``weight`` above ``max_weight``) is exceeded. An entry heavier than the whole
        budget is not kept."""
        if self.maxsize == 0 or (self.max_weight is not None and weight > self.max_weight):
            return
        with self._lock:
            self.weight += weight - self._weights.get(key, 0)
            self._data[key] = value
            self._weights[key] = weight
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize or (
                self.max_weight is not None and self.weight > self.max_weight
            ):
                oldest, _ = self._data.popitem(last=False)
                self.weight -= self._weights.pop(oldest)

    def clear(self) -> None:
        """Forget every entry (counters are kept)."""
        with self._lock:
            self._data.clear()
            self._weights.clear()
            self.weight = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data


class StoredAnswers:
    """What the HTTP layer does with the session's cache besides plain caching: look up
    expired entries, name the exact cached bytes for the memo, delete, invalidate."""

    def __init__(self, session: CachedSession, logger: logging.Logger) -> None:
        self.session = session
        self.logger = logger

    def key(self, url: str, params: Any) -> str:
        """The requests-cache key of a GET (every query parameter is part of it)."""
        prepared = self.session.prepare_request(requests.Request("GET", url, params=params))
        return self.session.cache.create_key(prepared)

    def expired(self, url: str, params: Any) -> tuple[str | None, Any]:
        """The stored (possibly expired) response for this exact GET and its cache key."""
        try:
            key = self.key(url, params)
            return key, self.session.cache.get_response(key)
        except Exception:  # a broken cache must never hide the real error
            self.logger.warning("litellm cache lookup failed", exc_info=False)
            return None, None

    def memo_key(
        self, parse: Callable[[Any], Any], request: str | tuple | None, response: Any
    ) -> tuple | None:
        """The memo key of a response read from the cache, or None (parse, don't memoise).

        It identifies the exact cached bytes: the parser, the requests-cache key of the entry
        (the one the cache storage read it under, else ``request``: that key, or ``(url,
        params)`` to compute it), the entry's ``created_at`` and a digest of the body.
        """
        created_at = getattr(response, "created_at", None)
        if created_at is None:
            return None
        request = getattr(response, "cache_key", None) or request
        if not request:
            return None
        if isinstance(request, tuple):
            try:
                request = self.key(*request)
            except Exception:  # a broken cache must never break a call
                return None
        digest = hashlib.blake2b(response.content or b"", digest_size=16).digest()
        return (parse, request, created_at, digest)

    def drop(self, url: str, params: Any) -> bool:
        """Delete the cached answer to this GET; False when the cache failed.

        requests-cache stores every 200 before the portal reads it, so an answer that could not
        be decoded or parsed must go again: else an HTML page or cut JSON would be served from
        the cache (error panel included) for the whole cache lifetime, and Retry would read the
        same entry again.
        """
        try:
            self.session.cache.delete(self.key(url, params))
        except Exception:  # a broken cache must never hide the real error
            self.logger.warning("litellm cache delete failed", exc_info=False)
            return False
        return True

    def invalidate(self, *paths: str, subject: str | None = None) -> None:
        """Drop cached answers for these paths (after a key was created or deleted): those
        concerning ``subject`` (a ``user_id`` or key) and those concerning no one in particular
        (a sweep of all keys, an alias lookup); every one of the paths when ``subject`` is None.
        Only keys are read (see :func:`labelled_key`); keys of another format go too."""
        path_tags = {_path_tag(path) for path in paths}
        tags = None if subject is None else {_subject_tag(subject), _subject_tag(None)}
        try:
            cache = self.session.cache
            doomed = []
            for key in list(cache.responses.keys()):
                parts = key.split("~", 2)
                if len(parts) < 3:
                    doomed.append(key)  # written before keys were labelled
                elif parts[0] in path_tags and (tags is None or parts[1] in tags):
                    doomed.append(key)
            if doomed:
                cache.delete(*doomed)
        except Exception:
            self.logger.warning("litellm cache invalidation failed for %s", ", ".join(paths))
