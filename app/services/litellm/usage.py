"""Usage methods of :class:`~app.services.litellm.client.LiteLLMClient`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .errors import LiteLLMBadResponse, LiteLLMNotFound
from .usage_models import DailyActivity, DayActivity, Metrics, merge_days, parse_activity_page

ACTIVITY_PAGE_SIZE = 1000  # LiteLLM's maximum since 1.70, CONTRACT §5
AGGREGATED_PATH = "/user/daily/activity/aggregated"
PAGINATED_PATH = "/user/daily/activity"
# LiteLLM writes usage with a batch job, 10-60 s after a request, into the UTC day the request
# started on; a range that ends on that day is not final until this long after.
LATE_USAGE_WINDOW = dt.timedelta(minutes=2)


def covers_recent_usage(end_date: dt.date, now: dt.datetime | None = None) -> bool:
    """Whether a range ending on ``end_date`` can still gain usage LiteLLM has not written yet:
    it reaches today (UTC), or yesterday during the first minutes of a UTC day."""
    now = now or dt.datetime.now(dt.UTC)
    return end_date >= (now - LATE_USAGE_WINDOW).date()


@dataclass(frozen=True)
class AggregatedAnswer:
    """One parsed ``/aggregated`` response, everything in it that does not depend on when or
    how it was read, so a cached answer is parsed, merged and summed once per process."""

    days: tuple[DayActivity, ...]
    totals: Metrics
    truncated_key_lists: bool


def parse_aggregated(body: Any) -> AggregatedAnswer:
    """Parse an ``/aggregated`` body: days merged and sorted, totals, and whether LiteLLM cut
    its per-key lists (``total_api_keys`` above the hashes it returned, CONTRACT §10.8)."""
    page = parse_activity_page(body)
    days = merge_days(page.days)
    returned = {h for day in days for h in day.api_keys}
    return AggregatedAnswer(
        days=days,
        totals=Metrics.sum(d.metrics for d in days),
        truncated_key_lists=page.total_api_keys is not None and page.total_api_keys > len(returned),
    )


class UsageMixin:
    """``/user/daily/activity[/aggregated]``. Needs the transport's ``_request``, ``max_pages``,
    ``usage_today_ttl``, ``api_key_limit``, ``logger`` and ``_aggregated_unavailable``."""

    def daily_activity(
        self,
        start_date: dt.date,
        end_date: dt.date,
        api_key: str | None = None,
        user_id: str | None = None,
        *,
        force_refresh: bool = False,
    ) -> DailyActivity:
        """Usage per UTC day for ``start_date..end_date`` (both inclusive, CONTRACT §6).

        Cached for ``usage_ttl``, or the short ``usage_today_ttl`` when the range may still gain
        late-written usage (:func:`covers_recent_usage`).

        Prefers ``/user/daily/activity/aggregated`` (one call); on 404 falls back to the
        paginated ``/user/daily/activity`` and remembers that for this client. ``api_key`` is a
        token HASH. ``timezone`` is never sent. Callers must still count only their own key
        hashes (CONTRACT §10.8): upstream ``user_id`` filtering is not trusted.
        """
        if end_date < start_date:
            raise ValueError("end_date must be on or after start_date")
        params: dict[str, Any] = {
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
        }
        if api_key is not None:
            params["api_key"] = api_key
        if user_id is not None:
            params["user_id"] = user_id
        expire_after = self.usage_today_ttl if covers_recent_usage(end_date) else None

        if not self._aggregated_unavailable:
            try:
                result = self._request(
                    "GET",
                    AGGREGATED_PATH,
                    params={**params, "api_key_limit": self.api_key_limit},
                    force_refresh=force_refresh,
                    expire_after=expire_after,
                    parse=parse_aggregated,
                )
            except LiteLLMNotFound:
                self._aggregated_unavailable = True
                self.logger.info("litellm %s unavailable (404); using paginated", AGGREGATED_PATH)
            else:
                answer: AggregatedAnswer = result.body
                return DailyActivity(
                    days=answer.days,
                    totals=answer.totals,
                    endpoint="aggregated",
                    pages=1,
                    fetched_at=result.fetched_at,
                    from_cache=result.from_cache,
                    stale=result.stale,
                    truncated_key_lists=answer.truncated_key_lists,
                )

        all_days = []
        pages = 0
        from_cache, stale = True, False
        fetched_at: dt.datetime | None = None
        page_no = 1
        while True:
            if page_no > self.max_pages:
                raise LiteLLMBadResponse(
                    f"{PAGINATED_PATH} still had more pages after {self.max_pages} "
                    f"(LITELLM_MAX_PAGES); refusing to follow it further",
                    route=PAGINATED_PATH,
                )
            result = self._request(
                "GET",
                PAGINATED_PATH,
                params={**params, "page": page_no, "page_size": ACTIVITY_PAGE_SIZE},
                force_refresh=force_refresh,
                expire_after=expire_after,
                parse=parse_activity_page,
            )
            page = result.body
            pages += 1
            all_days.extend(page.days)
            from_cache = from_cache and result.from_cache
            stale = stale or result.stale
            if fetched_at is None or result.fetched_at < fetched_at:
                fetched_at = result.fetched_at
            if not page.has_more:
                break
            page_no += 1
        days = merge_days(all_days)
        return DailyActivity(
            days=days,
            totals=Metrics.sum(d.metrics for d in days),
            endpoint="paginated",
            pages=pages,
            fetched_at=fetched_at or dt.datetime.now(dt.UTC),
            from_cache=from_cache,
            stale=stale,
            truncated_key_lists=False,
        )
