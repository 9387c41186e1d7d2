"""The LiteLLM client used by views, services and CLI commands: keys, usage, health.

One :class:`LiteLLMClient` per app (``app.extensions["litellm"]``). Its methods say which
LiteLLM endpoint they call and how its answer is paged, filtered and merged; everything about
the HTTP exchange (cache, retries, timeouts, bulkhead, stale fallback, logging) is the
:class:`~.http.LiteLLMHttp` it holds. Answers are parsed in :mod:`.key_results` and
:mod:`.usage_results`; every failure leaves as a :class:`~.errors.LiteLLMError`. The LiteLLM
facts relied on here are collected in docs/litellm.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from requests_cache import BaseCache

from .cache import cache_namespace
from .day_cache import UsageDayCache
from .day_store import day_store_for
from .errors import LiteLLMBadResponse, LiteLLMError, LiteLLMNotFound
from .http import ClientStats, LiteLLMHttp
from .key_results import (
    GeneratedKey,
    KeyInfo,
    KeyListResult,
    KeyPage,
    KeyRecord,
    parse_generated_key,
    parse_key_info,
    parse_key_list,
    parse_key_record,
    parse_model_names,
)
from .parsing import ShapeError
from .settings import LiteLLMSettings
from .usage_days import UsageDays
from .usage_results import DailyActivity

__all__ = ["LiteLLMClient", "covers_recent_usage"]

_DEFAULT_LOGGER = logging.getLogger("app.litellm")

KEY_LIST_PAGE_SIZE = 100  # LiteLLM's maximum (422 above)
# LiteLLM writes usage with a batch job, 10-60 s after a request, into the UTC day the request
# started on; a range that ends on that day is not final until this long after.
LATE_USAGE_WINDOW = dt.timedelta(minutes=2)
# One key's live figures change with every request: cached briefly, at most as long as the list.
KEY_INFO_TTL = 30
# The proxy's models change only when its configuration does.
MODEL_LIST_TTL = 600


def covers_recent_usage(end_date: dt.date, now: dt.datetime | None = None) -> bool:
    """Whether a range ending on ``end_date`` can still gain usage LiteLLM has not written yet:
    it reaches today (UTC), or yesterday during the first minutes of a UTC day."""
    now = now or dt.datetime.now(dt.UTC)
    return end_date >= (now - LATE_USAGE_WINDOW).date()


class LiteLLMClient:
    """Domain-level access to a LiteLLM proxy, authenticated with the master key.

    Build it with the typed settings (``app.config.litellm_settings`` makes them from the app's
    configuration) and a requests-cache backend (:func:`~.cache.build_cache_backend`).
    """

    # No other attributes: a typo'd or outdated setting (``client.timeout = …``) fails loudly.
    __slots__ = ("http", "usage_days")

    def __init__(
        self,
        settings: LiteLLMSettings,
        *,
        cache_backend: BaseCache | str = "memory",
        logger: logging.Logger | None = None,
    ) -> None:
        self.http = LiteLLMHttp(settings, cache_backend, logger or _DEFAULT_LOGGER)
        # Usage per (filters, UTC day), kept beside the answer cache (same SQLite file or Redis).
        day_cache = UsageDayCache(
            day_store_for(cache_backend),
            cache_namespace(settings.base_url, settings.master_key, "litellm_usage_days"),
            settings,
            self.http.logger,
        )
        self.usage_days = UsageDays(self.http, day_cache)

    @property
    def settings(self) -> LiteLLMSettings:
        """The settings in use (held by the HTTP layer, which reads them on every call)."""
        return self.http.settings

    @property
    def stats(self) -> ClientStats:
        """Call counters (tests, benchmarks, the backfill report)."""
        return self.http.stats

    def __repr__(self) -> str:
        return f"<LiteLLMClient {self.settings.base_url} master_key=***>"

    def close(self) -> None:
        """Close the HTTP sessions and the cache connection."""
        self.http.close()

    def health(self) -> bool:
        """True when ``GET /health/liveliness`` answers 2xx within the health timeouts, tried
        once (no retry, not cached). For ``/readyz``, whose caller has a short budget; never
        raises."""
        try:
            self.http.probe("/health/liveliness")
        except LiteLLMError:
            return False
        return True

    # ------------------------------------------------------------------ keys

    def iter_key_pages(
        self,
        user_id: str | None = None,
        key_alias: str | None = None,
        *,
        force_refresh: bool = False,
    ) -> Iterator[KeyPage]:
        """Yield each page of ``GET /key/list?return_full_object=true&size=100``.

        Without ``user_id`` this sweeps all keys (admin view), e.g. for ``flask backfill-tokens``.
        Items are post-filtered for exact ``user_id``/``key_alias`` equality (LiteLLM 1.84–1.89
        matched substrings). Stops after ``total_pages`` or an empty page; more than
        ``max_pages`` pages raise ``LiteLLMBadResponse``. Not de-duplicated across pages.
        """
        max_pages = self.settings.max_pages
        page = 1
        while True:
            if page > max_pages:
                raise LiteLLMBadResponse(
                    f"/key/list did not end after {max_pages} pages "
                    f"(LITELLM_MAX_PAGES); refusing to follow it further",
                    route="/key/list",
                )
            params: dict[str, Any] = {
                "return_full_object": "true",
                "size": KEY_LIST_PAGE_SIZE,
                "page": page,
            }
            if user_id is not None:
                params["user_id"] = user_id
            if key_alias is not None:
                params["key_alias"] = key_alias
            answer = self.http.get(
                "/key/list", params, parse=parse_key_list, force_refresh=force_refresh
            )
            body = answer.body
            if body.total_pages > max_pages:
                raise LiteLLMBadResponse(
                    f"/key/list reports {body.total_pages} pages, more than LITELLM_MAX_PAGES="
                    f"{max_pages}",
                    route="/key/list",
                )
            yield KeyPage(
                keys=body.matching(user_id, key_alias),
                page=page,
                total_pages=body.total_pages,
                total_count=body.total_count,
                from_cache=answer.from_cache,
                stale=answer.stale,
                fetched_at=answer.fetched_at,
            )
            if body.is_last_page(page, KEY_LIST_PAGE_SIZE):
                return
            page += 1

    def list_keys(
        self,
        user_id: str | None,
        key_alias: str | None = None,
        *,
        force_refresh: bool = False,
    ) -> KeyListResult:
        """All keys of ``user_id`` (all keys when ``None``), optionally only ``key_alias``.

        Follows every page, de-duplicates by ``token`` and keeps only exact ``user_id`` /
        ``key_alias`` matches. Returns a :class:`KeyListResult` (iterable of ``KeyRecord``; also
        ``pages``, ``total_count``, ``fetched_at``, ``from_cache``, ``stale``).
        """
        pages = self.iter_key_pages(user_id, key_alias, force_refresh=force_refresh)
        return KeyListResult.from_pages(pages)

    def generate_key(
        self,
        *,
        key_alias: str,
        user_id: str,
        models: tuple[str, ...] | list[str] = (),
        max_budget: float | None = None,
        duration: str | None = None,
        budget_duration: str | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        carried: Mapping[str, Any] | None = None,
    ) -> GeneratedKey:
        """Create a key with ``POST /key/generate`` (never retried, never cached).

        Raises ``LiteLLMRejected`` for e.g. a duplicate alias (message is LiteLLM's) and
        ``LiteLLMBadResponse`` if the returned ``token_id`` is not sha256 of the secret.
        The returned ``GeneratedKey.secret`` must be shown once and never stored or logged.
        ``carried`` holds further /key/generate fields as LiteLLM names them (a rotation's).
        """
        payload: dict[str, Any] = {
            **(carried or {}),  # a rotation's carried fields; the named arguments win
            "key_alias": key_alias,
            "user_id": user_id,
            "metadata": dict(metadata or {}),
        }
        if models or "models" not in payload:
            payload["models"] = list(models)
        if max_budget is not None:
            payload["max_budget"] = max_budget
        if duration is not None:
            payload["duration"] = duration
        if budget_duration is not None:
            payload["budget_duration"] = budget_duration
        if rpm_limit is not None:
            payload["rpm_limit"] = rpm_limit
        if tpm_limit is not None:
            payload["tpm_limit"] = tpm_limit
        answer = self.http.post("/key/generate", payload)
        self.http.invalidate("/key/list", subject=user_id)  # other users' lists are unchanged
        try:
            return parse_generated_key(answer.body)
        except ShapeError as exc:
            raise LiteLLMBadResponse(str(exc), status=200, route="/key/generate") from None

    def delete_key(self, token: str | None = None, *, key_alias: str | None = None) -> bool:
        """Delete one key by token hash (or by alias) with ``POST /key/delete`` (not retried).

        Returns True when LiteLLM deleted it, False when LiteLLM answered 404 (already gone —
        callers treat that as revoked). Other failures raise.
        """
        if (token is None) == (key_alias is None):
            raise ValueError("pass exactly one of token or key_alias")
        payload = {"keys": [token]} if token is not None else {"key_aliases": [key_alias]}
        try:
            self.http.post("/key/delete", payload)
        except LiteLLMNotFound:
            deleted = False
        else:
            deleted = True
        self.http.invalidate("/key/list")  # the owner is not known here: every list
        self.http.invalidate("/key/info", subject=token)
        return deleted

    def update_key(self, token: str, **fields: Any) -> KeyRecord:
        """Change a key's fields with ``POST /key/update {"key": <hash>, …}`` (not retried).

        Used to rename a key's alias and carry its spend over during a rotation. Returns the
        updated key; a missing key raises ``LiteLLMNotFound``, a taken alias ``LiteLLMRejected``.
        """
        answer = self.http.post("/key/update", {"key": token, **fields})
        self.http.invalidate("/key/list")
        self.http.invalidate("/key/info", subject=token)
        try:
            return parse_key_record(answer.body)
        except ShapeError as exc:
            raise LiteLLMBadResponse(str(exc), status=200, route="/key/update") from None

    def key_info(self, token: str, *, force_refresh: bool = False) -> KeyInfo:
        """One key as LiteLLM has it now: ``GET /key/info?key=<token hash>`` (never the raw
        secret, which would land in LiteLLM's access log). Cached for ``KEY_INFO_TTL`` seconds
        (or the key list's lifetime when shorter). A key LiteLLM does not know raises
        ``LiteLLMNotFound``.
        """
        answer = self.http.get(
            "/key/info",
            {"key": token},
            parse=parse_key_info,
            force_refresh=force_refresh,
            expire_after=min(KEY_INFO_TTL, self.settings.key_list_ttl),
        )
        return answer.body

    def model_names(self) -> tuple[str, ...]:
        """The models this proxy serves (``GET /models``, OpenAI's list shape), cached for
        ``MODEL_LIST_TTL`` seconds; what a key's ``models`` may name."""
        answer = self.http.get("/models", {}, parse=parse_model_names, expire_after=MODEL_LIST_TTL)
        return answer.body

    # ------------------------------------------------------------------ usage

    def daily_activity(
        self,
        start_date: dt.date,
        end_date: dt.date,
        api_key: str | None = None,
        user_id: str | None = None,
        *,
        force_refresh: bool = False,
        keys: int | None = None,
    ) -> DailyActivity:
        """Usage per UTC day for ``start_date..end_date`` (both inclusive).

        Days the day cache holds fresh cost no call; the others are fetched in as few calls as
        the endpoints allow (:mod:`.usage_days`: the aggregated endpoint, or the paginated one
        split into windows within ``max_pages``, with bounded concurrency). ``force_refresh``
        fetches every day of the range again and replaces what was held. ``fetched_at`` is the
        oldest fetch among the days; ``pages`` the calls made. A range too large to fetch
        within the view's bounds raises ``LiteLLMTooLarge``. ``keys``, the number of keys the
        caller will count, sends more than ``api_key_limit`` straight to the rows endpoint.

        ``api_key`` is a token HASH. ``timezone`` is never sent. Callers must still count only
        their own key hashes: LiteLLM's ``user_id`` filter is not trusted (docs/litellm.md).
        """
        if end_date < start_date:
            raise ValueError("end_date must be on or after start_date")
        filters: dict[str, str] = {}
        if api_key is not None:
            filters["api_key"] = api_key
        if user_id is not None:
            filters["user_id"] = user_id
        return self.usage_days.activity(
            start_date, end_date, filters, force_refresh=force_refresh, keys=keys
        )
