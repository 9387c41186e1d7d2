"""The HTTP layer under :class:`~.client.LiteLLMClient`: one cached session and what surrounds
each call.

One ``requests_cache.CachedSession``: auth header set once, GET-only retries, explicit
``(connect, read)`` timeouts, per-URL cache lifetimes, at most N calls in flight
(:mod:`.bulkhead`). Around each call: a stale-on-error fallback, the parsed memo, counters and
one structured log line. Only GET answers with status 200 that parse are kept: an answer that
cannot be read is deleted from the cache again. The master key is kept out of cache keys,
stored responses, logs, exception messages and ``repr``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from logging import Logger
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests_cache import DO_NOT_CACHE, BaseCache, CachedSession
from urllib3.util.retry import Retry

from app.services.redact import redact

from .bulkhead import Bulkhead, BulkheadAdapter, BulkheadFull, SingleWaitRetry, write_lane
from .cache import MISSING, ParsedMemo, StoredAnswers, labelled_key
from .errors import (
    LiteLLMBadResponse,
    LiteLLMError,
    LiteLLMTimeout,
    LiteLLMUnavailable,
    connection_reason,
    decode_json,
    error_for,
    is_outage,
)
from .gc_pause import collections_paused
from .hang_guard import HangGuard
from .parsing import ShapeError
from .settings import LiteLLMSettings

__all__ = ["Answer", "ClientStats", "LiteLLMHttp"]


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
class Answer:
    """One LiteLLM answer as the domain methods see it. ``fetched_at`` is when it left LiteLLM
    (the cache entry's creation time when ``from_cache``); ``stale`` means an expired cache
    entry was served because LiteLLM failed."""

    body: Any
    from_cache: bool
    stale: bool
    fetched_at: dt.datetime


@dataclass
class _Call:
    """What the log line and the counters need to know about one call."""

    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    status: int | None = None
    from_cache: bool = False
    stale: bool = False
    error: LiteLLMError | None = None


def _cached_session(
    settings: LiteLLMSettings, backend: BaseCache | str, reads: Bulkhead, writes: Bulkhead
):
    session = CachedSession(
        backend=backend,
        expire_after=DO_NOT_CACHE,
        # Usage is kept per UTC day by the day cache (.day_cache), not per response here.
        urls_expire_after={"*/key/list": settings.key_list_ttl},
        allowable_methods=("GET",),
        allowable_codes=(200,),
        # NOT the default ['Authorization', 'X-API-KEY', 'access_token', 'api_key']: ignoring
        # the api_key query parameter would make key A and key B share one usage entry.
        ignored_parameters=["Authorization"],
        # The stale fallback is ours (LiteLLMHttp.get), so only outages (not 4xx) use it.
        stale_if_error=False,
        key_fn=labelled_key,
    )
    session.headers["Authorization"] = f"Bearer {settings.master_key}"
    session.headers["Accept"] = "application/json"
    # GETs are idempotent and retried; POSTs (generate/delete) never are. Read errors get at
    # most one retry (a stale keep-alive connection); a read timeout gets none unless
    # ``retry_read_timeouts`` (maintenance commands), so a hanging LiteLLM costs a view one.
    retry_class = Retry if settings.retry_read_timeouts else SingleWaitRetry
    retry = retry_class(
        total=settings.retries,
        connect=settings.retries,
        read=min(settings.retries, 1),
        status=settings.retries,
        backoff_factor=settings.backoff_factor,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    adapter = BulkheadAdapter(reads, writes, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _probe_session(headers: Mapping[str, str]) -> requests.Session:
    """The readiness probe's session: same headers, never cached, never retried (one try within
    the health timeout is the probe's whole budget; a retry would double it)."""
    session = requests.Session()
    session.headers.update(headers)
    # Retry(0, read=False) is requests' own default: failures surface as requests errors.
    no_retry = HTTPAdapter(max_retries=Retry(total=0, read=False))
    session.mount("http://", no_retry)
    session.mount("https://", no_retry)
    return session


def aware_utc(value: Any) -> dt.datetime:
    """A cache entry's ``created_at`` as an aware UTC datetime (now, when it has none).

    requests-cache stores naive UTC datetimes; the views compare them with aware ones.
    """
    if not isinstance(value, dt.datetime):
        return dt.datetime.now(dt.UTC)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class LiteLLMHttp:
    """GET (cached, retried), POST (neither) and the readiness probe, each counted and logged.

    :meth:`probe` goes through a separate plain session with no retries, no cache, no bulkhead
    and the short health timeouts: a load balancer's probe must answer within its own timeout.
    """

    __slots__ = (
        "_lock",
        "_probe",
        "bulkhead",
        "hang_guard",
        "logger",
        "parsed_memo",
        "session",
        "settings",
        "stats",
        "stored",
        "write_bulkhead",
    )

    def __init__(self, settings: LiteLLMSettings, backend: BaseCache | str, logger: Logger) -> None:
        self.settings = settings
        self.logger = logger
        self.stats = ClientStats()
        self.bulkhead = Bulkhead(settings.max_concurrency, settings.concurrency_wait)
        self.write_bulkhead = write_lane(self.bulkhead)
        self.hang_guard = HangGuard()
        self.parsed_memo = ParsedMemo(settings.parsed_memo_size)
        self.session = _cached_session(settings, backend, self.bulkhead, self.write_bulkhead)
        self.stored = StoredAnswers(self.session, self.logger)
        self._probe = _probe_session(self.session.headers)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP sessions and the cache connection."""
        self._probe.close()
        self.session.close()

    # ------------------------------------------------------------------ the three calls

    def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        parse: Callable[[Any], Any],
        force_refresh: bool = False,
        expire_after: int | None = None,
    ) -> Answer:
        """``parse(decoded JSON)`` of a GET, from the cache when it holds a fresh answer.

        ``parse`` must return an immutable value: the result for a cached answer is memoised,
        so re-reading the same entry neither decodes nor parses it again. A ``ShapeError``,
        ``TypeError``, ``ValueError`` or ``ArithmeticError`` from it becomes
        ``LiteLLMBadResponse``, and the unreadable answer is deleted from the cache (never
        memoised), so the next view, Retry or "Refresh now" asks LiteLLM again. When LiteLLM
        is down (no answer, 5xx, 429) an expired cached answer is served (``stale=True``).
        """
        url = self.settings.base_url + path
        options: dict[str, Any] = {"timeout": self.settings.read_timeouts, "params": params}
        options["force_refresh"] = force_refresh
        if expire_after is not None:
            options["expire_after"] = expire_after
        with self._recorded("GET", path) as call:
            try:
                response = self._guarded_exchange(call, url, options)
                return self._answer(response, self._read(response, (url, params), path, parse))
            except LiteLLMBadResponse:
                if self.stored.drop(url, params):
                    self._count("bad_entries_dropped")
                raise
            except LiteLLMError as exc:
                stale = self._stale_answer(url, params, path, parse) if is_outage(exc) else None
                if stale is None:
                    raise
                call.stale, call.error = True, exc
                return stale

    def _guarded_exchange(self, call: _Call, url: str, options: dict[str, Any]):
        """``_exchange`` of a GET, waiting as long as the hang guard allows (see .hang_guard)."""
        settings, guard = self.settings, self.hang_guard
        if settings.read_timeout_while_hanging is None:
            return self._exchange(call, self.session, "GET", url, **options)
        wait = guard.wait(settings.read_timeout, settings.read_timeout_while_hanging)
        options["timeout"] = (settings.connect_timeout, wait.read_timeout)
        try:
            response = self._exchange(call, self.session, "GET", url, **options)
        except LiteLLMError as exc:
            guard.done(
                wait,
                answered=call.status is not None,
                timed_out=isinstance(exc, LiteLLMTimeout),
            )
            raise
        guard.done(wait, answered=not call.from_cache, timed_out=False)
        return response

    def post(self, path: str, payload: Any) -> Answer:
        """POST ``payload`` as JSON (never retried, never cached); the answer's decoded JSON."""
        url = self.settings.base_url + path
        timeout = self.settings.write_timeouts
        with self._recorded("POST", path) as call:
            response = self._exchange(
                call, self.session, "POST", url, json=payload, timeout=timeout
            )
            return self._answer(response, decode_json(response, path))

    def probe(self, path: str) -> None:
        """GET ``path`` once within the health timeouts; raise the LiteLLMError if it fails."""
        url = self.settings.base_url + path
        with self._recorded("GET", path) as call:
            self._exchange(call, self._probe, "GET", url, timeout=self.settings.health_timeouts)

    def record_held(self, path: str) -> None:
        """Count and log an answer a layer above (the usage day cache) gave from what it holds,
        without a call: one log line like a cached GET's."""
        call = _Call("GET", path, status=200, from_cache=True)
        self._record(call)

    def count_stale(self) -> None:
        """Count an expired answer served by a layer above (the usage day cache) because
        LiteLLM failed, like the stale fallback here."""
        self._count("cache_hits", "stale_served")

    def invalidate(self, *paths: str, subject: str | None = None) -> None:
        """Drop cached answers for these paths (after a key was created or deleted), only
        those of ``subject`` (a user id or key) and of no one in particular when given."""
        self.stored.invalidate(*paths, subject=subject)

    # ------------------------------------------------------------------ one call, step by step

    def _exchange(self, call: _Call, session: requests.Session, method: str, url: str, **options):
        """Send the request; the response when it is 2xx, else the matching LiteLLMError."""
        try:
            response = session.request(method, url, **options)
        except BulkheadFull as exc:
            raise LiteLLMUnavailable(f"LiteLLM is busy: {exc}", route=call.path) from None
        except requests.ReadTimeout as exc:
            raise LiteLLMTimeout("LiteLLM did not answer in time", route=call.path) from exc
        except requests.Timeout as exc:
            raise LiteLLMUnavailable("LiteLLM did not answer in time", route=call.path) from exc
        except requests.ConnectionError as exc:
            raise LiteLLMUnavailable(
                f"cannot connect to LiteLLM ({connection_reason(exc)})", route=call.path
            ) from exc
        except requests.RequestException as exc:
            raise LiteLLMUnavailable(
                f"request to LiteLLM failed ({type(exc).__name__})", route=call.path
            ) from exc
        call.status = response.status_code
        call.from_cache = bool(getattr(response, "from_cache", False))
        if not 200 <= response.status_code < 300:
            raise error_for(response, call.path, self._scrub)
        return response

    def _read(self, response: Any, request: tuple | str, path: str, parse: Callable) -> Any:
        """``parse`` of a 2xx answer's JSON; for a cached answer, the memoised result if any."""
        memo_key = None
        if getattr(response, "from_cache", False) and self.parsed_memo.maxsize:
            memo_key = self.stored.memo_key(parse, request, response)
            parsed = self.parsed_memo.get(memo_key) if memo_key is not None else MISSING
            if parsed is not MISSING:
                return parsed
        # A big answer's decoded JSON lives only until parsed: no collection visits it.
        with collections_paused(len(response.content or b"")):
            body = decode_json(response, path)
            try:
                parsed = parse(body)
            except (ShapeError, TypeError, ValueError, ArithmeticError) as exc:
                raise LiteLLMBadResponse(str(exc), status=200, route=path) from None
            del body
        if memo_key is not None:
            self.parsed_memo.put(memo_key, parsed)
        return parsed

    def _stale_answer(self, url: str, params: Any, path: str, parse: Callable) -> Answer | None:
        """The expired cached answer to this GET, read like a fresh one, or None (nothing
        cached, or what is cached cannot be read: then it is deleted too)."""
        cache_key, cached = self.stored.expired(url, params)
        if cached is None or cached.status_code != 200:
            return None
        try:
            body = self._read(cached, cache_key or (url, params), path, parse)
        except LiteLLMBadResponse:
            if self.stored.drop(url, params):
                self._count("bad_entries_dropped")
            return None
        return Answer(body, from_cache=True, stale=True, fetched_at=aware_utc(cached.created_at))

    @staticmethod
    def _answer(response: Any, body: Any) -> Answer:
        from_cache = bool(getattr(response, "from_cache", False))
        return Answer(body, from_cache, False, aware_utc(getattr(response, "created_at", None)))

    # ------------------------------------------------------------------ counters and log line

    @contextmanager
    def _recorded(self, method: str, path: str) -> Iterator[_Call]:
        call = _Call(method, path)
        try:
            yield call
        except LiteLLMError as exc:
            call.error = exc
            raise
        finally:
            self._record(call)

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _record(self, call: _Call) -> None:
        duration_ms = round((time.perf_counter() - call.started) * 1000, 1)
        from_cache, stale, error = call.from_cache, call.stale, call.error
        self._count("cache_hits" if from_cache and not stale else "upstream_calls")
        if stale:
            self._count("cache_hits", "stale_served")
        elif error is not None:
            self._count("errors")
        self.logger.log(
            logging.WARNING if error is not None else logging.INFO,
            "litellm %s %s -> %s in %.1f ms%s%s%s",
            call.method,
            call.path,
            call.status if call.status is not None else "no answer",
            duration_ms,
            " (cache)" if from_cache and not stale else "",
            f" (stale cache after: {error.message})" if stale and error else "",
            f" ({error.message})" if error and not stale and call.status == 200 else "",
            extra={
                "route": call.path,
                "method": call.method,
                "status": call.status,
                "duration_ms": duration_ms,
                "cache_hit": from_cache or stale,
                "stale": stale,
            },
        )

    def _scrub(self, text: str) -> str:
        return redact(text, (self.settings.master_key,))
