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

Entries are compact JSON (metrics as lists in ``METRIC_NAMES`` order), their fetch and
freshness stamps first, so a read learns which answer it holds without decoding the rest. Small
entries are memoised decoded, keyed by their exact bytes, so a warm view neither decodes nor
rebuilds them; a big one (an organisation's day) is decoded only when a report needs its
figures, which a report memoised for the same held days (``app.services.usage``) does not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from .cache import MISSING, ParsedMemo
from .day_store import DayStore
from .errors import LiteLLMBadResponse
from .settings import LiteLLMSettings
from .usage_results import BreakdownEntry, DayActivity, KeyUsageEntry, Metrics

__all__ = ["HeldDay", "UsageDayCache", "filters_digest"]

_MEMO_MAX_BYTES = 64 * 1024  # bigger entries (an organisation's day) are decoded each time
_MEMO_ENTRIES = 4096
_ROWS_ROUTE = "/user/daily/activity"
# How write() lays an entry out (json.dumps with compact separators gives the same bytes), so
# its stamps can be read from the head of a big entry without decoding the whole of it.
_HEAD = re.compile(rb'\{"date":"(\d{4}-\d\d-\d\d)","f":([-+.\deE]+),"u":([-+.\deE]+),"d":')


def filters_digest(filters: Mapping[str, str]) -> str:
    """A short stable name for one set of LiteLLM filters (``api_key``, ``user_id``)."""
    text = "&".join(f"{k}={filters[k]}" for k in sorted(filters))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class HeldDay:
    """One day as the cache holds it. ``activity`` None: LiteLLM had no usage that day.

    ``settled``: fetched after the day had settled, so its figures no longer change. A big day
    is decoded whenever ``activity`` is read; ``entry`` is then the entry's bytes and where its
    encoded figures start, so ending its freshness rewrites them as they are.
    """

    __slots__ = ("_activity", "_decode", "date", "entry", "fetched_at", "fresh_until", "settled")

    def __init__(
        self,
        date: dt.date,
        activity: DayActivity | None,
        fetched_at: dt.datetime,
        fresh_until: dt.datetime,
        *,
        settled: bool = False,
        entry: tuple[bytes, int] | None = None,
        decode: Callable[[], DayActivity | None] | None = None,
    ) -> None:
        self.date = date
        self._activity = activity
        self.fetched_at = fetched_at
        self.fresh_until = fresh_until
        self.settled = settled
        self.entry = entry
        self._decode = decode

    @property
    def activity(self) -> DayActivity | None:
        if self._decode is None:
            return self._activity
        # Decoded anew on each use, never kept: a long range of big days (a year of a heavy
        # user's) then never holds every day's objects at once, in memory or for the GC.
        return self._decode()

    def encoded(self) -> bytes:
        """The figures as the cache stores them."""
        if self.entry is not None:
            value, start = self.entry
            return value[start:-1]
        return _encode_day(self.activity)

    @property
    def stamp(self) -> tuple[dt.date, float]:
        """What names this exact answer: its day and when it was fetched."""
        return (self.date, self.fetched_at.timestamp())

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

    def settled(self, day: dt.date, fetched_at: dt.datetime) -> bool:
        """Whether ``day`` had settled (LiteLLM's batch writer done with it) at ``fetched_at``."""
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
        return fetched_at >= day_end + dt.timedelta(seconds=self.settings.usage_settle_seconds)

    def fresh_for(self, day: dt.date, fetched_at: dt.datetime) -> dt.timedelta:
        """How long an answer for ``day`` fetched at ``fetched_at`` stays fresh."""
        if self.settled(day, fetched_at):
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
    ) -> dict[dt.date, HeldDay]:
        """Keep one fetch's answer for each of ``days`` (None: no usage that day), fresh for
        :meth:`fresh_for` unless ``fresh_until`` says otherwise. Returns the days as
        :meth:`read` hands them back: a big one keeps only its encoded figures."""
        data = {day: _encode_day(activity) for day, activity in days.items()}
        blobs = self._put(filters, data, fetched_at, fresh_until)
        held = {}
        for day, activity in days.items():
            held[day] = self._lazy_if_big(blobs[day])
            if held[day] is None:
                until = fresh_until or fetched_at + self.fresh_for(day, fetched_at)
                settled = self.settled(day, fetched_at)
                held[day] = HeldDay(day, activity, fetched_at, until, settled=settled)
        return held

    def write_compact(
        self,
        filters: Mapping[str, str],
        days: Mapping[dt.date, dict | None],
        fetched_at: dt.datetime,
    ) -> dict[dt.date, HeldDay]:
        """:meth:`write` for days read in the cache's own layout (``usage_rows``), stored as
        they are: no object is built for a big day; a small one is decoded from its entry."""
        data = {day: _dump(compact) for day, compact in days.items()}
        blobs = self._put(filters, data, fetched_at, None)
        held = {}
        for day, blob in blobs.items():
            entry = self._lazy_if_big(blob) or self._parse(blob)
            if entry is None:  # cannot happen for what _put just wrote
                raise LiteLLMBadResponse(f"usage of {day} unreadable", route=_ROWS_ROUTE)
            held[day] = entry
        return held

    def _lazy_if_big(self, blob: bytes) -> HeldDay | None:
        head = _HEAD.match(blob) if len(blob) > _MEMO_MAX_BYTES else None
        return self._lazy(head, blob) if head is not None else None

    def _put(
        self,
        filters: Mapping[str, str],
        data: Mapping[dt.date, bytes],
        fetched_at: dt.datetime,
        fresh_until: dt.datetime | None,
    ) -> dict[dt.date, bytes]:
        digest = filters_digest(filters)
        blobs = {}
        by_life: dict[dt.timedelta, dict[str, bytes]] = {}
        f = json.dumps(fetched_at.timestamp()).encode()
        for day, encoded in data.items():
            life = self.fresh_for(day, fetched_at)
            until = json.dumps((fresh_until or fetched_at + life).timestamp()).encode()
            # The same bytes as json.dumps({"date", "f", "u", "d"}) with compact separators.
            blob = b'{"date":"%s","f":%s,"u":%s,"d":%s}' % (
                day.isoformat().encode(),
                f,
                until,
                encoded,
            )
            by_life.setdefault(life, {})[self._key(digest, day)] = blobs[day] = blob
        try:
            for life, items in by_life.items():
                # Kept past freshness so an outage can still show it (marked stale).
                self.store.put_many(items, int(life.total_seconds()) + self.settings.usage_ttl)
        except Exception:
            self.logger.warning("usage day cache write failed", exc_info=False)
        return blobs

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
            data = {d: h.encoded() for d, h in by_day.items() if h.fetched_at == fetched_at}
            self._put(filters, data, fetched_at, now)

    def _decode(self, key: str, value: bytes) -> HeldDay | None:
        if len(value) > _MEMO_MAX_BYTES:
            head = _HEAD.match(value)
            if head is not None and value.endswith(b"}"):
                return self._lazy(head, value)
        memo_key = None
        if len(value) <= _MEMO_MAX_BYTES:
            memo_key = (key, hashlib.blake2b(value, digest_size=16).digest())
            held = self.memo.get(memo_key)
            if held is not MISSING:
                return held
        held = self._parse(value)
        if held is None:
            self.logger.warning("usage day cache entry unreadable; fetching the day again")
            return None
        if memo_key is not None:
            self.memo.put(memo_key, held)
        return held

    def _parse(self, value: bytes) -> HeldDay | None:
        """A whole entry decoded, or None when it cannot be read."""
        try:
            entry = json.loads(value)
            date = dt.date.fromisoformat(entry["date"])
            fetched_at = dt.datetime.fromtimestamp(entry["f"], dt.UTC)
            return HeldDay(
                date=date,
                activity=None if entry["d"] is None else _decode_day(entry["date"], entry["d"]),
                fetched_at=fetched_at,
                fresh_until=dt.datetime.fromtimestamp(entry["u"], dt.UTC),
                settled=self.settled(date, fetched_at),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            return None

    def _lazy(self, head: re.Match, value: bytes) -> HeldDay | None:
        """A big entry: its stamps now, its figures when used."""
        try:
            date = dt.date.fromisoformat(head[1].decode())
            fetched_at = dt.datetime.fromtimestamp(float(head[2]), dt.UTC)
            fresh_until = dt.datetime.fromtimestamp(float(head[3]), dt.UTC)
        except (ValueError, OverflowError):
            self.logger.warning("usage day cache entry unreadable; fetching the day again")
            return None
        start = head.end()

        def decode() -> DayActivity | None:
            try:
                raw = json.loads(value[start:-1])
                return None if raw is None else _decode_day(date.isoformat(), raw)
            except (ValueError, KeyError, TypeError, IndexError):
                # Its head was readable, so the day counted as held: "Refresh now" replaces it.
                raise LiteLLMBadResponse(
                    f"The usage held for {date.isoformat()} cannot be read; Refresh now fetches "
                    "it again.",
                    route=_ROWS_ROUTE,
                ) from None

        return HeldDay(
            date,
            None,
            fetched_at,
            fresh_until,
            settled=self.settled(date, fetched_at),
            entry=(value, start),
            decode=decode,
        )


# --- compact encoding ---------------------------------------------------------------------------


def _m(metrics: Metrics) -> tuple:
    return metrics.as_tuple()


def _encode_breakdown(entries: Mapping[str, BreakdownEntry]) -> dict:
    return {
        name: [_m(e.metrics), {h: _m(m) for h, m in e.api_key_breakdown.items()}]
        for name, e in entries.items()
    }


def _encode_day(day: DayActivity | None) -> bytes:
    if day is None:
        return b"null"
    raw = {
        "m": _m(day.metrics),
        "mo": _encode_breakdown(day.models),
        "pr": _encode_breakdown(day.providers),
        "k": {
            h: [_m(e.metrics), e.key_alias, e.user_id, e.key_exists]
            for h, e in day.api_keys.items()
        },
    }
    return _dump(raw)


def _dump(raw: Mapping | None) -> bytes:
    """A day's figures in the cache's layout (``usage_rows`` reads pages straight into it)."""
    return json.dumps(raw, separators=(",", ":")).encode()


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
