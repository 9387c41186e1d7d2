"""Daily activity for any range: held days from the day cache, the rest fetched in few calls.

:meth:`UsageDays.activity` is what ``LiteLLMClient.daily_activity`` does. The days of the range
that the day cache holds fresh cost nothing; the missing ones are grouped into runs of
consecutive days, and each run is fetched:

- from ``/user/daily/activity/aggregated`` in one call, unless LiteLLM answered 404 before
  (releases before 1.76), or for these filters cut its per-key lists at ``api_key_limit``
  (the per-key figures would be wrong; the rows endpoint has no such limit) or took longer
  than the read timeout to add several days up (remembered in the day cache's store, so
  every worker and instance knows);
- else from the paginated ``/user/daily/activity``: page 1 tells how many pages the run has;
  a run over ``max_pages`` is split into windows of fewer days, each fetched the same way,
  and the pages of a window are fetched side by side once their number is known.

At most ``usage_fetch_concurrency`` calls run at once (and each still takes a bulkhead slot).
Each page is read straight into compact per-day sums (:mod:`.usage_rows`), merged as soon as
it arrives and then dropped, so memory grows with the days and keys of the range, never with
the number of rows or pages; each finished run or window goes to the day cache at once, so an
interrupted range continues where it stopped. A range that would need more than
``usage_max_calls`` calls, or more than ``usage_deadline`` seconds, is refused with
:class:`~.errors.LiteLLMTooLarge`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests

from .day_cache import HeldDay, UsageDayCache, filters_digest
from .errors import (
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMTooLarge,
    LiteLLMUnavailable,
    is_outage,
)
from .http import LiteLLMHttp
from .usage_results import AggregatedAnswer, DailyActivity, DayActivity, parse_aggregated
from .usage_rows import CompactDay, RowsPage, merge_day, parse_rows_page

__all__ = ["AGGREGATED_PATH", "ACTIVITY_PAGE_SIZE", "PAGINATED_PATH", "UsageDays", "day_range"]

ACTIVITY_PAGE_SIZE = 1000  # LiteLLM's maximum since 1.70
AGGREGATED_PATH = "/user/daily/activity/aggregated"
PAGINATED_PATH = "/user/daily/activity"
# A split aims below the page bound: rows are rarely spread evenly over the days.
_SPLIT_FILL = 0.8
# A read timeout on a window this long more likely means "too much to add up" than "down".
_LONG_WINDOW_DAYS = 32
# What a call of the aggregated endpoint can come back with besides an answer.
_NO_AGGREGATED = object()  # 404: a release before 1.76
_TOO_SLOW = object()  # a read timeout over several days


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def runs_of(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days grouped into (first, last) runs, newest run first."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in reversed(runs)]


@dataclass
class _Window:
    """Days ``start..end`` being fetched; their merged usage so far."""

    start: dt.date
    end: dt.date
    endpoint: str
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    days: dict[dt.date, DayActivity] = field(default_factory=dict)
    rows: dict[dt.date, CompactDay] = field(default_factory=dict)  # the rows endpoint's days
    pages: int | None = None  # known once page 1 arrived
    received: int = 0

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def merge(self, days: Iterable[DayActivity]) -> None:
        for day in days:
            if self.start <= day.date <= self.end:
                held = self.days.get(day.date)
                self.days[day.date] = day if held is None else held + day

    def merge_rows(self, page: RowsPage) -> None:
        for date, day in page.days:
            if self.start <= date <= self.end:
                merge_day(self.rows, date, day)


class UsageDays:
    """Day cache plus fetch plan behind ``LiteLLMClient.daily_activity``."""

    def __init__(self, http: LiteLLMHttp, cache: UsageDayCache) -> None:
        self.http = http
        self.cache = cache
        self.aggregated_unavailable = False  # LiteLLM answered 404 (releases before 1.76)

    @property
    def settings(self):
        return self.http.settings

    def activity(
        self,
        start: dt.date,
        end: dt.date,
        filters: Mapping[str, str],
        *,
        force_refresh: bool = False,
        keys: int | None = None,
    ) -> DailyActivity:
        """Usage per UTC day of ``start..end`` for ``filters`` (see the module docstring).

        ``keys``: how many LiteLLM keys (token ids) the caller counts; more than
        ``api_key_limit`` go to the rows endpoint at once (an aggregated answer would be cut)."""
        days = day_range(start, end)
        now = dt.datetime.now(dt.UTC)
        held = self.cache.read(filters, days)
        if force_refresh:
            # "Refresh now": the held days stop counting as fresh (so a refresh that fails
            # leaves none to be shown as current) but stay for an outage's stale fallback.
            self.cache.expire(filters, held.values(), now)
            missing = days
        else:
            missing = [d for d in days if d not in held or not held[d].fresh(now)]
        many = keys is not None and keys > self.settings.api_key_limit
        fetch = _Fetch(self, filters, rows_only=many)
        stale = False
        if missing:
            try:
                fetch.run(runs_of(missing))
            except LiteLLMError as exc:
                if not is_outage(exc) or any(d not in held and d not in fetch.done for d in days):
                    raise
                stale = True  # LiteLLM is down and every day is held: show them, marked
                self.http.count_stale()
        else:
            self.http.record_held(PAGINATED_PATH)
        shown = tuple(fetch.done.get(d) or held[d] for d in days)
        return DailyActivity(
            held=shown,
            endpoint=fetch.endpoint or "cache",
            pages=fetch.calls,
            fetched_at=min(h.fetched_at for h in shown),
            from_cache=fetch.calls == 0 or stale,
            stale=stale,
            truncated_key_lists=False,
            source=f"{self.cache.namespace}:{filters_digest(filters)}",
        )


class _Fetch:
    """One view's fetch of missing runs: a small scheduler over a thread pool."""

    def __init__(self, days: UsageDays, filters: Mapping[str, str], *, rows_only: bool) -> None:
        self.owner = days
        self.rows_only = rows_only
        self.http = days.http
        self.settings = days.settings
        self.filters = dict(filters)
        self.done: dict[dt.date, HeldDay] = {}
        self.calls = 0
        self.endpoint: str | None = None
        self._queue: deque[tuple[_Window, int]] = deque()
        self._started = time.monotonic()

    def run(self, runs: list[tuple[dt.date, dt.date]]) -> None:
        """Fetch every run; raises the first LiteLLMError (finished windows stay cached)."""
        for start, end in runs:
            self._queue.append((_Window(start, end, self._endpoint_for()), 1))
        if len(self._queue) == 1:  # the common case: one call may be all it takes
            window, page = self._next()
            self._handle(window, page, self._call(window, page))
        workers = max(1, min(self.settings.usage_fetch_concurrency, self.settings.max_concurrency))
        if workers == 1:
            while self._queue:
                window, page = self._next()
                self._handle(window, page, self._call(window, page))
        elif self._queue:
            self._run_pool(workers)

    def _endpoint_for(self) -> str:
        if (
            self.rows_only
            or self.owner.aggregated_unavailable
            or self.owner.cache.rows_only(self.filters)
        ):
            return "paginated"
        return "aggregated"

    # --- scheduling --------------------------------------------------------------------------

    def _run_pool(self, workers: int) -> None:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="usage-fetch")
        pending: dict[Future, tuple[_Window, int]] = {}
        bound: str | None = None
        try:
            while (self._queue and bound is None) or pending:
                while self._queue and bound is None and len(pending) < workers:
                    bound = self._bound_reached()
                    if bound is None:
                        window, page = self._next()
                        pending[pool.submit(self._call, window, page)] = (window, page)
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    window, page = pending.pop(future)
                    self._handle(window, page, future.result())
        finally:
            # On an error the view answers now; calls still running end on their own.
            pool.shutdown(wait=False, cancel_futures=True)
        if bound is not None:  # the calls already made were counted (drained above)
            raise self._too_large(bound)

    def _bound_reached(self) -> str | None:
        """Why no further call may start for this view, or None."""
        limit = self.settings.usage_max_calls
        if self.calls >= limit:
            return f"it needs more than {limit} calls (LITELLM_USAGE_MAX_CALLS)"
        if time.monotonic() - self._started > self.settings.usage_deadline:
            return f"it took more than {self.settings.usage_deadline:g} s (LITELLM_USAGE_DEADLINE)"
        return None

    def _next(self) -> tuple[_Window, int]:
        """The next call to make, within the view's bounds on calls and time."""
        bound = self._bound_reached()
        if bound is not None:
            raise self._too_large(bound)
        self.calls += 1
        return self._queue.popleft()

    def _too_large(self, why: str) -> LiteLLMTooLarge:
        message = f"This range holds more usage than LiteLLM can hand over in time: {why}."
        if self.done:
            message += (
                f" The {len(self.done)} days fetched so far are kept, so trying again continues;"
                " a shorter range answers sooner."
            )
        else:
            message += " Choose a shorter range."
        return LiteLLMTooLarge(message, route=PAGINATED_PATH)

    # --- one call and what follows from it ----------------------------------------------------

    def _call(self, window: _Window, page: int) -> Any:
        params: dict[str, Any] = {
            **self.filters,
            "start_date": window.start.isoformat(),
            "end_date": window.end.isoformat(),
        }
        try:
            if window.endpoint == "aggregated":
                params["api_key_limit"] = self.settings.api_key_limit
                return self.http.get(AGGREGATED_PATH, params, parse=parse_aggregated).body
            params.update(page=page, page_size=ACTIVITY_PAGE_SIZE)
            return self.http.get(PAGINATED_PATH, params, parse=parse_rows_page).body
        except LiteLLMNotFound:
            if window.endpoint != "aggregated":
                raise
            return _NO_AGGREGATED
        except LiteLLMUnavailable as exc:
            if window.length == 1 or not isinstance(exc.__cause__, requests.Timeout):
                raise
            if window.endpoint == "aggregated":
                return _TOO_SLOW  # adding it all up took LiteLLM too long: rows, in pages
            if window.length < _LONG_WINDOW_DAYS:
                raise
            raise LiteLLMTooLarge(
                f"LiteLLM did not answer within {self.settings.read_timeout:g} s "
                f"(LITELLM_TIMEOUT) for {window.length} days of usage rows. A shorter "
                f"range may answer in time; days fetched so far are kept.",
                route=exc.route,
            ) from None

    def _handle(self, window: _Window, page: int, body: Any) -> None:
        if window.endpoint == "aggregated":
            self._aggregated(window, body)
        else:
            self._page(window, page, body)

    def _aggregated(self, window: _Window, answer: Any) -> None:
        if answer is _NO_AGGREGATED:
            self.owner.aggregated_unavailable = True
            self.http.logger.info("litellm %s unavailable (404); using paginated", AGGREGATED_PATH)
        elif answer is _TOO_SLOW or self._cut(answer):
            # Per-key lists cut at api_key_limit, or too slow to add up: these filters read
            # the rows endpoint from now on (every worker and instance: it is in the store).
            self.owner.cache.remember_rows_only(self.filters)
        else:
            self.endpoint = "aggregated"
            window.merge(answer.days)
            self._finish(window)
            return
        self._queue.append((_Window(window.start, window.end, "paginated"), 1))

    def _cut(self, answer: AggregatedAnswer) -> bool:
        """Whether LiteLLM may have cut a per-key list at ``api_key_limit`` (a list exactly as
        long as the limit may be cut too)."""
        if answer.truncated_key_lists:
            return True
        limit = self.settings.api_key_limit
        for day in answer.days:
            if len(day.api_keys) >= limit:
                return True
            for entry in (*day.models.values(), *day.providers.values()):
                if len(entry.api_key_breakdown) >= limit:
                    return True
        return False

    def _page(self, window: _Window, page: int, body: RowsPage) -> None:
        self.endpoint = "paginated"
        max_pages = self.settings.max_pages
        if page == 1:
            total = max(body.total_pages, 1)
            if total > max_pages:
                self._split(window, total)
                return
            window.pages = total
            self._queue.extend((window, n) for n in range(2, total + 1))
        window.merge_rows(body)
        window.received += 1
        if page == window.pages and body.has_more:  # rows written meanwhile: follow them
            if page >= max_pages:
                raise self._too_large(f"LiteLLM kept adding pages past {max_pages}")
            window.pages += 1
            self._queue.append((window, page + 1))
        if window.received == window.pages:
            self._finish(window)

    def _split(self, window: _Window, total_pages: int) -> None:
        """Replace a window with more pages than ``max_pages`` by windows of fewer days."""
        max_pages = self.settings.max_pages
        if window.length == 1:
            raise self._too_large(
                f"{window.start.isoformat()} alone has {total_pages} pages of usage rows, more "
                f"than {max_pages} (LITELLM_MAX_PAGES)"
            )
        needed = self.calls + total_pages + sum(1 for _ in self._queue)
        if needed > self.settings.usage_max_calls:
            raise self._too_large(
                f"it needs about {needed} calls for {total_pages} pages of usage rows, more "
                f"than {self.settings.usage_max_calls} (LITELLM_USAGE_MAX_CALLS)"
            )
        parts = min(window.length, math.ceil(total_pages / (max_pages * _SPLIT_FILL)))
        size = math.ceil(window.length / parts)
        end = window.end
        while end >= window.start:
            start = max(window.start, end - dt.timedelta(days=size - 1))
            self._queue.append((_Window(start, end, "paginated"), 1))
            end = start - dt.timedelta(days=1)

    def _finish(self, window: _Window) -> None:
        """Keep a complete window: in the day cache (days without usage too) and for the view."""
        days = day_range(window.start, window.end)
        # Big days are kept encoded, as the cache holds them, until the report adds them up.
        if window.endpoint == "paginated":
            rows = {d: window.rows.get(d) for d in days}
            self.done.update(self.owner.cache.write_compact(self.filters, rows, window.started_at))
        else:
            answer = {d: window.days.get(d) for d in days}
            self.done.update(self.owner.cache.write(self.filters, answer, window.started_at))
        window.days.clear()
        window.rows.clear()
