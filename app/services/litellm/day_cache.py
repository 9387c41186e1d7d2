"""The usage day cache: LiteLLM's daily activity kept per (filters, UTC day).

LiteLLM buckets usage by UTC day and its batch writer stops touching a day shortly after that
day ends, so a past day's answer stays true. Keeping answers per day (instead of per requested
range) lets overlapping ranges share what was already fetched: "Last 30 days" then "Last 7
days" then "This month" asks LiteLLM only for days it does not hold. A day with no usage is held
too (as "nothing"), so an empty range also costs nothing the second time.

How long a day counts as fresh depends on whether it has settled when it was fetched: once its
end plus ``usage_settle_seconds`` (the batch writer's delay with a margin) had passed,
``usage_ttl`` (long); before that (today, and yesterday just after midnight) the short
``usage_today_ttl``. Entries outlive their freshness by ``usage_ttl`` so an outage can still show
them, marked stale.

Entries are compact JSON (metrics as lists in ``METRIC_NAMES`` order); small ones are memoised
decoded, keyed by their exact bytes, so a warm view neither decodes nor rebuilds them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .cache import MISSING, ParsedMemo
from .day_store import DayStore
from .settings import LiteLLMSettings
from .usage_results import METRIC_NAMES, BreakdownEntry, DayActivity, KeyUsageEntry, Metrics

__all__ = ["HeldDay", "UsageDayCache", "filters_digest"]

_MEMO_MAX_BYTES = 64 * 1024  # bigger entries (an organisation's day) are decoded each time
_MEMO_ENTRIES = 4096


def filters_digest(filters: Mapping[str, str]) -> str:
    """A short stable name for one set of LiteLLM filters (``api_key``, ``user_id``)."""
    text = "&".join(f"{k}={filters[k]}" for k in sorted(filters))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class HeldDay:
    """One day as the cache holds it. ``activity`` None: LiteLLM had no usage that day."""

    date: dt.date
    activity: DayActivity | None
    fetched_at: dt.datetime
    fresh_until: dt.datetime

    def fresh(self, now: dt.datetime) -> bool:
        """Whether this answer may still be shown as current."""
        return now < self.fresh_until


class UsageDayCache:
    """Read, write and forget days of one LiteLLM deployment (``namespace``) in a DayStore."""

    def __init__(
        self, store: DayStore, namespace: str, settings: LiteLLMSettings, logger: logging.Logger
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.settings = settings
        self.logger = logger
        self.memo = ParsedMemo(_MEMO_ENTRIES)

    def _key(self, digest: str, day: dt.date) -> str:
        return f"{self.namespace}:usage-day:{digest}:{day.isoformat()}"

    def fresh_for(self, day: dt.date, fetched_at: dt.datetime) -> dt.timedelta:
        """How long an answer for ``day`` fetched at ``fetched_at`` stays fresh."""
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
        settled_at = day_end + dt.timedelta(seconds=self.settings.usage_settle_seconds)
        if fetched_at >= settled_at:
            return dt.timedelta(seconds=self.settings.usage_ttl)
        return dt.timedelta(seconds=self.settings.usage_today_ttl)

    def read(self, filters: Mapping[str, str], days: list[dt.date]) -> dict[dt.date, HeldDay]:
        """Every held day of ``days`` (fresh or not); a failing store holds nothing."""
        digest = filters_digest(filters)
        keys = {self._key(digest, d): d for d in days}
        try:
            raw = self.store.get_many(list(keys))
        except Exception:  # a broken cache must never hide LiteLLM's answer
            self.logger.warning("usage day cache read failed", exc_info=False)
            return {}
        held = {}
        for key, value in raw.items():
            entry = self._decode(key, value)
            if entry is not None:
                held[entry.date] = entry
        return held

    def write(
        self,
        filters: Mapping[str, str],
        days: Mapping[dt.date, DayActivity | None],
        fetched_at: dt.datetime,
        *,
        fresh_until: dt.datetime | None = None,
    ) -> None:
        """Keep one fetch's answer for each of ``days`` (None: no usage that day), fresh for
        :meth:`fresh_for` unless ``fresh_until`` says otherwise."""
        digest = filters_digest(filters)
        by_life: dict[dt.timedelta, dict[str, bytes]] = {}
        for day, activity in days.items():
            life = self.fresh_for(day, fetched_at)
            until = fresh_until or fetched_at + life
            entry = {
                "date": day.isoformat(),
                "f": fetched_at.timestamp(),
                "u": until.timestamp(),
                "d": None if activity is None else _encode_day(activity),
            }
            blob = json.dumps(entry, separators=(",", ":")).encode()
            by_life.setdefault(life, {})[self._key(digest, day)] = blob
        try:
            for life, items in by_life.items():
                # Kept past freshness so an outage can still show it (marked stale).
                self.store.put_many(items, int(life.total_seconds()) + self.settings.usage_ttl)
        except Exception:
            self.logger.warning("usage day cache write failed", exc_info=False)

    def rows_only(self, filters: Mapping[str, str]) -> bool:
        """Whether these filters go to the rows endpoint (:meth:`remember_rows_only`)."""
        key = f"{self.namespace}:usage-rows-only:{filters_digest(filters)}"
        try:
            return bool(self.store.get_many([key]))
        except Exception:
            return False

    def remember_rows_only(self, filters: Mapping[str, str]) -> None:
        """LiteLLM's aggregated answer does not serve these filters (per-key lists cut, or too
        slow): remember that for ``usage_ttl``, for every worker and instance."""
        key = f"{self.namespace}:usage-rows-only:{filters_digest(filters)}"
        try:
            self.store.put_many({key: b"1"}, self.settings.usage_ttl)
        except Exception:
            self.logger.warning("usage day cache write failed", exc_info=False)

    def expire(self, filters: Mapping[str, str], held: Iterable[HeldDay], now: dt.datetime) -> None:
        """End the freshness of these held days now, keeping them for a stale fallback."""
        by_day = {h.date: h for h in held}
        for fetched_at in {h.fetched_at for h in by_day.values()}:
            days = {d: h.activity for d, h in by_day.items() if h.fetched_at == fetched_at}
            self.write(filters, days, fetched_at, fresh_until=now)

    def _decode(self, key: str, value: bytes) -> HeldDay | None:
        memo_key = None
        if len(value) <= _MEMO_MAX_BYTES:
            memo_key = (key, hashlib.blake2b(value, digest_size=16).digest())
            held = self.memo.get(memo_key)
            if held is not MISSING:
                return held
        try:
            entry = json.loads(value)
            held = HeldDay(
                date=dt.date.fromisoformat(entry["date"]),
                activity=None if entry["d"] is None else _decode_day(entry["date"], entry["d"]),
                fetched_at=dt.datetime.fromtimestamp(entry["f"], dt.UTC),
                fresh_until=dt.datetime.fromtimestamp(entry["u"], dt.UTC),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            self.logger.warning("usage day cache entry unreadable; fetching the day again")
            return None
        if memo_key is not None:
            self.memo.put(memo_key, held)
        return held


# --- compact encoding ---------------------------------------------------------------------------


def _m(metrics: Metrics) -> list:
    return [getattr(metrics, n) for n in METRIC_NAMES]


def _encode_breakdown(entries: Mapping[str, BreakdownEntry]) -> dict:
    return {
        name: [_m(e.metrics), {h: _m(m) for h, m in e.api_key_breakdown.items()}]
        for name, e in entries.items()
    }


def _encode_day(day: DayActivity) -> dict:
    return {
        "m": _m(day.metrics),
        "mo": _encode_breakdown(day.models),
        "pr": _encode_breakdown(day.providers),
        "k": {
            h: [_m(e.metrics), e.key_alias, e.user_id, e.key_exists]
            for h, e in day.api_keys.items()
        },
    }


def _decode_breakdown(raw: Mapping) -> Mapping[str, BreakdownEntry]:
    return MappingProxyType(
        {
            name: BreakdownEntry(
                Metrics(*m), MappingProxyType({h: Metrics(*km) for h, km in per_key.items()})
            )
            for name, (m, per_key) in raw.items()
        }
    )


def _decode_day(date: str, raw: Mapping) -> DayActivity:
    return DayActivity(
        date=dt.date.fromisoformat(date),
        metrics=Metrics(*raw["m"]),
        models=_decode_breakdown(raw["mo"]),
        providers=_decode_breakdown(raw["pr"]),
        api_keys=MappingProxyType(
            {
                h: KeyUsageEntry(Metrics(*m), alias, user, exists)
                for h, (m, alias, user, exists) in raw["k"].items()
            }
        ),
    )
