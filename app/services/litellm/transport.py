"""HTTP plumbing of the LiteLLM client: session, retries, timeouts, counters, logging.

The client owns one ``requests_cache.CachedSession``: auth header set once, GET-only retries,
explicit ``(connect, read)`` timeouts, per-URL cache lifetimes, a stale-on-error fallback and one
structured log line per call. This module is the request loop; the cache side (backends,
stale lookups, parsed memo, invalidation) is :mod:`.caching`, the reading of answers (JSON
decoding, status → exception) :mod:`.responses`. Everything LiteLLM sends is parsed in
:mod:`.usage_models` or :mod:`.key_models`; every failure leaves as a
:class:`~.errors.LiteLLMError` subclass.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from requests_cache import DO_NOT_CACHE, BaseCache, CachedSession
from urllib3.util.retry import Retry

from app.services.redact import redact

from .bulkhead import Bulkhead, BulkheadAdapter, BulkheadFull, SingleWaitRetry
from .caching import CacheMixin, build_cache_backend, cache_namespace
from .errors import LiteLLMBadResponse, LiteLLMError, LiteLLMUnavailable
from .memo import MISSING, ParsedMemo
from .responses import aware_utc, connection_reason, decode_json, error_for, is_outage

__all__ = ["ClientStats", "LiteLLMTransport", "build_cache_backend", "cache_namespace"]

_DEFAULT_LOGGER = logging.getLogger("app.litellm")


@dataclass
class ClientStats:
    """Counters for tests and benchmarks. One logical call counts once, retries included."""

    upstream_calls: int = 0  # calls that reached (or tried to reach) LiteLLM
    cache_hits: int = 0  # calls answered from the cache (stale fallbacks included)
    stale_served: int = 0  # expired cache entries served because LiteLLM failed
    errors: int = 0  # calls that ended in a LiteLLMError
    bad_entries_dropped: int = 0  # cached answers deleted because they could not be parsed

    def __getitem__(self, name: str) -> int:
        return getattr(self, name)


@dataclass(frozen=True)
class _Result:
    """What ``_request`` hands to the domain methods."""

    status: int
    body: Any
    from_cache: bool
    stale: bool
    fetched_at: dt.datetime


class LiteLLMTransport(CacheMixin):
    """Base of :class:`LiteLLMClient`: the cached, retrying, logging HTTP layer.

    Cache lifetimes: ``/key/list`` ``key_list_ttl``; ``/user/daily/activity*`` ``usage_ttl``
    (``usage_today_ttl`` when the range reaches the last minutes, whose usage LiteLLM has not
    written yet); everything else is never cached. Only GET
    responses with status 200 that parse are kept: an answer that cannot be read is deleted from
    the cache again. The master key is kept out of cache keys, stored responses, logs, exception
    messages and ``repr``.

    Timeouts: GETs (what page views and exports need) get ``(connect_timeout, read_timeout)``
    and are never re-sent after a read timeout, so a hanging LiteLLM costs a view one read
    timeout; POSTs (key create/revoke, never retried) get ``write_timeout``, longer because a
    timed-out create leaves its outcome unknown. At most ``max_concurrency`` calls go upstream
    at once (:mod:`.bulkhead`); a call that finds no slot within ``concurrency_wait`` fails as
    ``LiteLLMUnavailable`` (stale data when cached).

    :meth:`health` (for ``/readyz``) goes through a separate plain session with no retries, no
    cache, no bulkhead and a short ``(health_connect_timeout, health_timeout)`` budget: a load
    balancer's probe must answer within its own timeout.
    """

    def __init__(
        self,
        base_url: str,
        master_key: str,
        *,
        cache_backend: BaseCache | str = "memory",
        key_list_ttl: int = 300,
        usage_ttl: int = 300,
        usage_today_ttl: int = 15,
        connect_timeout: float = 3.05,
        read_timeout: float = 5,
        write_timeout: float = 15,
        retry_read_timeouts: bool = False,
        max_concurrency: int = 3,
        concurrency_wait: float = 0.5,
        health_connect_timeout: float = 1,
        health_timeout: float = 2,
        max_pages: int = 50,
        retries: int = 2,
        backoff_factor: float = 0.2,
        api_key_limit: int = 1000,
        parsed_memo_size: int = 256,
        logger: logging.Logger | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("LiteLLM base URL is required")
        if not master_key:
            raise ValueError("LiteLLM master key is required")
        self.base_url = base_url.rstrip("/")
        self._master_key = master_key
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.write_timeout = (float(connect_timeout), float(write_timeout))
        self.health_timeout = (float(health_connect_timeout), float(health_timeout))
        self.max_pages = int(max_pages)
        self.usage_today_ttl = int(usage_today_ttl)
        self.api_key_limit = int(api_key_limit)
        self.logger = logger or _DEFAULT_LOGGER
        self.stats = ClientStats()
        self.bulkhead = Bulkhead(max_concurrency, concurrency_wait)
        self._aggregated_unavailable = False
        self._lock = threading.Lock()
        # Parsed results of cached responses, so a warm view does not decode them again.
        self.parsed_memo = ParsedMemo(parsed_memo_size)

        self.session = CachedSession(
            backend=cache_backend,
            expire_after=DO_NOT_CACHE,
            urls_expire_after={
                "*/key/list": int(key_list_ttl),
                "*/user/daily/activity": int(usage_ttl),  # also matches /aggregated
            },
            allowable_methods=("GET",),
            allowable_codes=(200,),
            # NOT the default ['Authorization', 'X-API-KEY', 'access_token', 'api_key']: ignoring
            # the api_key query parameter would make key A and key B share one usage entry.
            ignored_parameters=["Authorization"],
            # Stale fallback is done by _request, so only upstream failures (not 4xx) use it.
            stale_if_error=False,
        )
        self.session.headers["Authorization"] = f"Bearer {master_key}"
        self.session.headers["Accept"] = "application/json"
        # GETs are idempotent and retried; POSTs (generate/delete) never are. Read errors get at
        # most one retry (a stale keep-alive connection); a read timeout gets none unless
        # ``retry_read_timeouts`` (maintenance commands), so a hanging LiteLLM costs a view one.
        retry_class = Retry if retry_read_timeouts else SingleWaitRetry
        retry = retry_class(
            total=retries,
            connect=retries,
            read=min(retries, 1),
            status=retries,
            backoff_factor=backoff_factor,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = BulkheadAdapter(self.bulkhead, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The readiness probe's session: same headers, never cached, never retried (one try
        # within health_timeout is the probe's whole budget; a retry would double it).
        self._probe_session = requests.Session()
        self._probe_session.headers.update(self.session.headers)
        # Retry(0, read=False) is requests' own default: failures surface as requests errors.
        no_retry = HTTPAdapter(max_retries=Retry(total=0, read=False))
        self._probe_session.mount("http://", no_retry)
        self._probe_session.mount("https://", no_retry)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        instance_path: str,
        *,
        logger: logging.Logger | None = None,
        maintenance: bool = False,
    ) -> Self:
        """Build a client from Flask config.

        Reads LITELLM_BASE_URL, LITELLM_MASTER_KEY (both required), HTTP_CACHE_URL,
        LITELLM_TIMEOUT (read, 5), LITELLM_WRITE_TIMEOUT (15), LITELLM_CONNECT_TIMEOUT (3.05),
        LITELLM_MAX_CONCURRENCY (3), LITELLM_CONCURRENCY_WAIT (0.5), LITELLM_KEY_LIST_TTL (300),
        LITELLM_USAGE_TTL (300), LITELLM_USAGE_TODAY_TTL (15),
        LITELLM_MAX_PAGES (50), LITELLM_RETRIES (2), LITELLM_RETRY_BACKOFF (0.2).

        ``maintenance=True`` is for commands such as ``flask backfill-tokens``, which nobody
        waits on in a browser: reads get LITELLM_MAINTENANCE_TIMEOUT (30) and one retry after
        a read timeout.
        """

        def get(name: str, default, kind):
            value = config.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                return default
            try:
                return kind(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} must be a {kind.__name__}, got {value!r}") from exc

        missing = [
            n
            for n in ("LITELLM_BASE_URL", "LITELLM_MASTER_KEY")
            if not config.get(n) or str(config.get(n)).strip().lower() in ("null", "none")
        ]
        if missing:
            raise ValueError("missing configuration: " + ", ".join(missing))
        if maintenance:
            read_timeout = get("LITELLM_MAINTENANCE_TIMEOUT", 30.0, float)
        else:
            read_timeout = get("LITELLM_TIMEOUT", 5.0, float)
        return cls(
            str(config["LITELLM_BASE_URL"]),
            str(config["LITELLM_MASTER_KEY"]),
            cache_backend=build_cache_backend(
                config.get("HTTP_CACHE_URL") or "",
                instance_path,
                cache_namespace(str(config["LITELLM_BASE_URL"]), str(config["LITELLM_MASTER_KEY"])),
            ),
            key_list_ttl=get("LITELLM_KEY_LIST_TTL", 300, int),
            usage_ttl=get("LITELLM_USAGE_TTL", 300, int),
            usage_today_ttl=get("LITELLM_USAGE_TODAY_TTL", 15, int),
            connect_timeout=get("LITELLM_CONNECT_TIMEOUT", 3.05, float),
            read_timeout=read_timeout,
            write_timeout=get("LITELLM_WRITE_TIMEOUT", 15.0, float),
            retry_read_timeouts=maintenance,
            max_concurrency=get("LITELLM_MAX_CONCURRENCY", 3, int),
            concurrency_wait=get("LITELLM_CONCURRENCY_WAIT", 0.5, float),
            max_pages=get("LITELLM_MAX_PAGES", 50, int),
            retries=get("LITELLM_RETRIES", 2, int),
            backoff_factor=get("LITELLM_RETRY_BACKOFF", 0.2, float),
            logger=logger,
        )

    def __repr__(self) -> str:
        return f"<LiteLLMClient {self.base_url} master_key=***>"

    def close(self) -> None:
        """Close the HTTP sessions and the cache connection."""
        self._probe_session.close()
        self.session.close()

    # ------------------------------------------------------------------ plumbing

    def _scrub(self, text: str) -> str:
        return redact(text, (self._master_key,))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        force_refresh: bool = False,
        expire_after: int | None = None,
        timeout: tuple[float, float] | None = None,
        expect_json: bool = True,
        parse: Callable[[Any], Any] | None = None,
        probe: bool = False,
    ) -> _Result:
        """Make one LiteLLM call and log it; raise the matching LiteLLMError on failure.

        GET failures that mean "LiteLLM is down" (no answer, 5xx, 429) fall back to an expired
        cached response of the same request when one exists (``stale=True``).

        With ``parse`` the result's ``body`` is ``parse(decoded JSON)`` (a ``ShapeError``,
        ``TypeError``, ``ValueError`` or ``ArithmeticError`` becomes ``LiteLLMBadResponse``).
        The parsed result of a response read from the cache is memoised
        (:class:`~.memo.ParsedMemo`), so re-reading the same cache entry neither decodes nor
        parses it again; ``parse`` must therefore return an immutable value. A GET answer that
        cannot be decoded or parsed is deleted from the cache (requests-cache stores every 200)
        and never memoised, so the next view, Retry or "Refresh now" asks LiteLLM again.

        ``probe=True`` sends the request once through the probe session: no retries, no cache,
        no stale fallback (for :meth:`health`).
        """
        url = self.base_url + path
        cached_get = method == "GET" and not probe
        default_timeout = self.timeout if method == "GET" else self.write_timeout
        kwargs: dict[str, Any] = {"timeout": timeout or default_timeout}
        if params:
            kwargs["params"] = params
        if json is not None:
            kwargs["json"] = json
        session: requests.Session = self._probe_session if probe else self.session
        if cached_get:
            kwargs["force_refresh"] = force_refresh
            if expire_after is not None:
                kwargs["expire_after"] = expire_after

        started = time.perf_counter()
        status: int | None = None
        from_cache = stale = False
        error: LiteLLMError | None = None
        result: _Result | None = None
        try:
            try:
                response = session.request(method, url, **kwargs)
            except BulkheadFull as exc:
                raise LiteLLMUnavailable(f"LiteLLM is busy: {exc}", route=path) from None
            except requests.Timeout as exc:
                raise LiteLLMUnavailable("LiteLLM did not answer in time", route=path) from exc
            except requests.ConnectionError as exc:
                raise LiteLLMUnavailable(
                    f"cannot connect to LiteLLM ({connection_reason(exc)})", route=path
                ) from exc
            except requests.RequestException as exc:
                raise LiteLLMUnavailable(
                    f"request to LiteLLM failed ({type(exc).__name__})", route=path
                ) from exc
            status = response.status_code
            from_cache = bool(getattr(response, "from_cache", False))
            if not 200 <= status < 300:
                raise error_for(response, path, self._scrub)
            body = self._read_body(response, (method, url, params), path, expect_json, parse)
            created_at = aware_utc(getattr(response, "created_at", None))
            result = _Result(status, body, from_cache, False, created_at)
        except LiteLLMError as exc:
            error = exc
            if cached_get and isinstance(exc, LiteLLMBadResponse):
                self._drop_unreadable(method, url, params)
            elif cached_get and is_outage(exc):
                result = self._stale_result(method, url, params, path, expect_json, parse)
                stale = result is not None
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            with self._lock:
                if from_cache and not stale:
                    self.stats.cache_hits += 1
                else:
                    self.stats.upstream_calls += 1
                if stale:
                    self.stats.cache_hits += 1
                    self.stats.stale_served += 1
                elif error is not None:
                    self.stats.errors += 1
            level = logging.WARNING if (error is not None) else logging.INFO
            self.logger.log(
                level,
                "litellm %s %s -> %s in %.1f ms%s%s%s",
                method,
                path,
                status if status is not None else "no answer",
                duration_ms,
                " (cache)" if from_cache and not stale else "",
                f" (stale cache after: {error.message})" if stale and error else "",
                f" ({error.message})" if error and not stale and status == 200 else "",
                extra={
                    "route": path,
                    "method": method,
                    "status": status,
                    "duration_ms": duration_ms,
                    "cache_hit": from_cache or stale,
                    "stale": stale,
                },
            )
        if result is None:
            assert error is not None
            raise error
        return result

    def _read_body(
        self,
        response: Any,
        request: tuple,
        path: str,
        expect_json: bool,
        parse: Callable[[Any], Any] | None,
    ) -> Any:
        """The body of a 2xx answer: decoded JSON (or text), then ``parse(…)`` of it when given.

        A response read from the cache is first looked up in the parsed memo; a fresh parse of
        a cached response is memoised. Raises ``LiteLLMBadResponse`` when the body is not what
        the contract promises.
        """
        memo_key: tuple | None = None
        if parse is not None and getattr(response, "from_cache", False):
            memo_key, parsed = self._memo_lookup(parse, request, response)
            if parsed is not MISSING:
                return parsed
        body = decode_json(response, path) if expect_json else response.text
        if parse is None:
            return body
        return self._parse_body(parse, body, memo_key, path)

    def _stale_result(
        self,
        method: str,
        url: str,
        params: Any,
        path: str,
        expect_json: bool,
        parse: Callable[[Any], Any] | None,
    ) -> _Result | None:
        """The expired cached answer to this request, read like a fresh one, or None (nothing
        cached, or what is cached cannot be read: then it is deleted too)."""
        cache_key, cached = self._cached_response(method, url, params)
        if cached is None or cached.status_code != 200:
            return None
        request = cache_key or (method, url, params)
        try:
            body = self._read_body(cached, request, path, expect_json, parse)
        except LiteLLMBadResponse:
            self._drop_unreadable(method, url, params)
            return None
        return _Result(200, body, True, True, aware_utc(cached.created_at))

    # ------------------------------------------------------------------ health

    def health(self) -> bool:
        """True when ``GET /health/liveliness`` answers 2xx within ``health_timeout``, tried
        once (no retry, not cached). For ``/readyz``, whose caller has a short budget; never
        raises."""
        try:
            self._request(
                "GET",
                "/health/liveliness",
                timeout=self.health_timeout,
                expect_json=False,
                probe=True,
            )
        except LiteLLMError:
            return False
        return True
