"""Usage results of the LiteLLM client (``/user/daily/activity[/aggregated]``) and their parsers.

The ONE place where daily-activity JSON is read (:mod:`.usage_rows` reads the rows endpoint's
pages into compact sums with the helpers here). Tolerant of every version in docs/litellm.md
("Answers read tolerantly"): missing metrics are 0, unknown fields are ignored, 1.65-style breakdown
values (bare metrics, no ``metrics``/``metadata`` wrapper) and 1.70-style breakdowns (no
``api_key_breakdown``) are accepted; unreadable shapes raise :class:`~.parsing.ShapeError`.

The results are deeply immutable: their Mapping fields are read-only (``types.MappingProxyType``),
because the client hands the same parsed object to every view that reads the same cached response
(:class:`~.cache.ParsedMemo`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from types import MappingProxyType
from typing import Any

from .parsing import ShapeError, as_number, frozen_map, opt_str

METRIC_NAMES = (
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "api_requests",
    "successful_requests",
    "failed_requests",
)


@dataclass(frozen=True)
class Metrics:
    """The usage counters the portal shows. Other LiteLLM metrics are ignored."""

    spend: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    api_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0

    def __add__(self, other: Metrics) -> Metrics:
        # Spelled out (no getattr loop): reports add a few hundred Metrics per view.
        if not isinstance(other, Metrics):
            return NotImplemented
        return Metrics(
            self.spend + other.spend,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.api_requests + other.api_requests,
            self.successful_requests + other.successful_requests,
            self.failed_requests + other.failed_requests,
        )

    def as_tuple(self) -> tuple:
        """The values in ``METRIC_NAMES`` order (spelled out: the day cache encodes many)."""
        return (
            self.spend,
            self.prompt_tokens,
            self.completion_tokens,
            self.total_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            self.api_requests,
            self.successful_requests,
            self.failed_requests,
        )

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict in ``METRIC_NAMES`` order (for JSON / templates)."""
        return {n: getattr(self, n) for n in METRIC_NAMES}

    @classmethod
    def sum(cls, items) -> Metrics:
        """Sum an iterable of Metrics (empty → zero), left to right like repeated ``+`` (the
        same floats), without a Metrics per step: reports sum thousands of keys."""
        s0, s1, s2, s3, s4, s5, s6, s7, s8 = 0.0, 0, 0, 0, 0, 0, 0, 0, 0
        for m in items:
            s0 += m.spend
            s1 += m.prompt_tokens
            s2 += m.completion_tokens
            s3 += m.total_tokens
            s4 += m.cache_read_input_tokens
            s5 += m.cache_creation_input_tokens
            s6 += m.api_requests
            s7 += m.successful_requests
            s8 += m.failed_requests
        return cls(s0, s1, s2, s3, s4, s5, s6, s7, s8)


@dataclass(frozen=True)
class KeyUsageEntry:
    """Usage of one key (by token hash) plus LiteLLM's read-time metadata about it."""

    metrics: Metrics
    key_alias: str | None = None
    user_id: str | None = None
    key_exists: bool | None = None

    def __add__(self, other: KeyUsageEntry) -> KeyUsageEntry:
        return KeyUsageEntry(
            metrics=self.metrics + other.metrics,
            key_alias=self.key_alias if self.key_alias is not None else other.key_alias,
            user_id=self.user_id if self.user_id is not None else other.user_id,
            key_exists=self.key_exists if self.key_exists is not None else other.key_exists,
        )


@dataclass(frozen=True)
class BreakdownEntry:
    """One model/provider bucket of a day; ``api_key_breakdown`` maps token hash → Metrics
    (empty on LiteLLM < 1.77)."""

    metrics: Metrics
    api_key_breakdown: Mapping[str, Metrics] = field(default_factory=frozen_map)

    def __add__(self, other: BreakdownEntry) -> BreakdownEntry:
        return BreakdownEntry(
            metrics=self.metrics + other.metrics,
            api_key_breakdown=_merge_maps(self.api_key_breakdown, other.api_key_breakdown),
        )


@dataclass(frozen=True)
class DayActivity:
    """Usage of one UTC day (LiteLLM buckets usage by the UTC day a request started on)."""

    date: dt.date
    metrics: Metrics
    models: Mapping[str, BreakdownEntry] = field(default_factory=frozen_map)
    providers: Mapping[str, BreakdownEntry] = field(default_factory=frozen_map)
    api_keys: Mapping[str, KeyUsageEntry] = field(default_factory=frozen_map)

    def __add__(self, other: DayActivity) -> DayActivity:
        """Merge two partial entries of the same date (paginated endpoint splits days)."""
        if self.date != other.date:
            raise ValueError("cannot merge different days")
        return DayActivity(
            date=self.date,
            metrics=self.metrics + other.metrics,
            models=_merge_maps(self.models, other.models),
            providers=_merge_maps(self.providers, other.providers),
            api_keys=_merge_maps(self.api_keys, other.api_keys),
        )


@dataclass(frozen=True)
class DailyActivity:
    """Usage over a date range as returned by :meth:`LiteLLMClient.daily_activity`.

    ``held`` has one day-cache answer (``day_cache.HeldDay``) per day of the range, ascending,
    days without usage included; ``days`` are the merged days with usage among them (no
    zero-fill), decoded when first read. ``totals`` is computed from ``days``, never from
    LiteLLM's ``metadata`` (which is per page on the paginated endpoint). ``source`` names the
    deployment and filters the days were fetched for: with each held day's ``stamp`` it names
    exactly the figures a report sums, so a report can be memoised (``app.services.usage``).
    ``endpoint`` is ``"aggregated"``, ``"paginated"`` or ``"cache"``. ``fetched_at`` is the
    oldest fetch among the days. ``stale`` means expired days were served because LiteLLM
    failed. ``truncated_key_lists`` means LiteLLM's per-key lists were cut at
    ``api_key_limit`` (LiteLLM 1.106+): query per key with ``api_key=<hash>`` for exact
    per-key figures.
    """

    held: tuple[Any, ...]
    endpoint: str
    pages: int
    fetched_at: dt.datetime
    from_cache: bool
    stale: bool
    truncated_key_lists: bool = False
    source: str = ""

    @cached_property
    def days(self) -> tuple[DayActivity, ...]:
        return tuple(a for h in self.held if (a := h.activity) is not None)

    @cached_property
    def totals(self) -> Metrics:
        return Metrics.sum(d.metrics for d in self.days)

    def key_hashes(self) -> frozenset[str]:
        """All token hashes that appear in any day's ``api_keys``."""
        return frozenset(h for day in self.days for h in day.api_keys)


def _merge_maps(a: Mapping[str, Any], b: Mapping[str, Any]) -> Mapping[str, Any]:
    merged = dict(a)
    for k, v in b.items():
        merged[k] = merged[k] + v if k in merged else v
    return MappingProxyType(merged)


_METRIC_TYPES = {f.name: (float if f.type in ("float", float) else int) for f in fields(Metrics)}
_METRIC_KINDS = tuple((n, _METRIC_TYPES[n]) for n in METRIC_NAMES)
_INF = float("inf")


def parse_metrics(raw: Any) -> Metrics:
    """Metrics from a ``SpendMetrics`` dict; missing or null values are 0, extras ignored."""
    return Metrics(*metric_values(raw))


_ZERO_VALUES = Metrics().as_tuple()


def metric_values(raw: Any) -> list:
    """The values of :func:`parse_metrics` as a plain list in ``METRIC_NAMES`` order (what the
    rows endpoint's compact reader, :mod:`.usage_rows`, adds up)."""
    if raw is None:
        return list(_ZERO_VALUES)
    if not _is_object(raw):
        raise ShapeError(f"metrics must be an object, got {type(raw).__name__}")
    values = []
    for name, kind in _METRIC_KINDS:
        value = raw.get(name)
        # The usual case, a finite count of the right type, without as_number's checks: a page
        # of 1,000 rows holds some 30,000 of them.
        if type(value) is kind and 0 <= value < _INF:
            values.append(value)
        else:
            values.append(as_number(value, kind, name))
    return values


def _is_object(value: Any) -> bool:
    """A JSON object: a dict (decoded JSON, checked first: the ABC check costs more) or any
    Mapping."""
    return type(value) is dict or isinstance(value, Mapping)


def unwrap(raw: Any) -> tuple[Mapping, Mapping, Mapping]:
    """Return (metrics, metadata, api_key_breakdown) of a breakdown value in any version's
    shape: ``{"metrics": …, "metadata": …, "api_key_breakdown": …}`` or 1.65's bare metrics."""
    if not _is_object(raw):
        raise ShapeError(f"breakdown value must be an object, got {type(raw).__name__}")
    metrics = raw.get("metrics")
    if _is_object(metrics):
        meta = raw.get("metadata")
        akb = raw.get("api_key_breakdown")
        return (
            metrics,
            meta if _is_object(meta) else {},
            akb if _is_object(akb) else {},
        )
    return raw, {}, {}


def _parse_breakdown(raw: Any) -> Mapping[str, BreakdownEntry]:
    if not raw:
        return frozen_map()
    if not isinstance(raw, Mapping):
        raise ShapeError("breakdown must be an object")
    out = {}
    for name, value in raw.items():
        metrics, _meta, akb = unwrap(value)
        out[str(name)] = BreakdownEntry(
            metrics=parse_metrics(metrics),
            api_key_breakdown=MappingProxyType(
                {str(h): parse_metrics(unwrap(v)[0]) for h, v in akb.items()}
            ),
        )
    return MappingProxyType(out)


def _parse_key_usage(raw: Any) -> Mapping[str, KeyUsageEntry]:
    if not raw:
        return frozen_map()
    if not isinstance(raw, Mapping):
        raise ShapeError("breakdown.api_keys must be an object")
    out = {}
    for token, value in raw.items():
        metrics, meta, _akb = unwrap(value)
        key_exists = meta.get("key_exists")
        out[str(token)] = KeyUsageEntry(
            metrics=parse_metrics(metrics),
            key_alias=opt_str(meta.get("key_alias")),
            user_id=opt_str(meta.get("user_id")),
            key_exists=key_exists if isinstance(key_exists, bool) else None,
        )
    return MappingProxyType(out)


def day_and_breakdown(raw: Any) -> tuple[dt.date, Mapping[str, Any]]:
    """The UTC day and the ``breakdown`` object of one ``DailySpendData`` entry, checked."""
    if not isinstance(raw, Mapping):
        raise ShapeError("results[] entries must be objects")
    try:
        day = dt.date.fromisoformat(str(raw["date"])[:10])
    except (KeyError, ValueError) as exc:
        raise ShapeError(f"results[] entry without a valid date: {raw.get('date')!r}") from exc
    breakdown = raw.get("breakdown") or {}
    if not isinstance(breakdown, Mapping):
        raise ShapeError("results[].breakdown must be an object")
    return day, breakdown


def parse_day(raw: Any) -> DayActivity:
    """One ``DailySpendData`` entry."""
    day, breakdown = day_and_breakdown(raw)
    return DayActivity(
        date=day,
        metrics=parse_metrics(raw.get("metrics")),
        models=_parse_breakdown(breakdown.get("models")),
        providers=_parse_breakdown(breakdown.get("providers")),
        api_keys=_parse_key_usage(breakdown.get("api_keys")),
    )


@dataclass(frozen=True)
class ActivityPage:
    """One parsed ``SpendAnalyticsPaginatedResponse`` (internal to the client)."""

    days: tuple[DayActivity, ...]
    has_more: bool
    total_pages: int
    total_api_keys: int | None


def parse_activity_page(body: Any) -> ActivityPage:
    """Parse one daily-activity response body."""
    if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
        raise ShapeError("expected an object with a 'results' list")
    meta = body.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise ShapeError("'metadata' must be an object")
    total_api_keys = meta.get("total_api_keys")
    return ActivityPage(
        days=tuple(parse_day(r) for r in body["results"]),
        has_more=bool(meta.get("has_more", False)),
        total_pages=int(as_number(meta.get("total_pages"), int, "metadata.total_pages")),
        total_api_keys=total_api_keys if isinstance(total_api_keys, int) else None,
    )


def merge_days(days) -> tuple[DayActivity, ...]:
    """Merge entries of the same date and sort ascending."""
    by_date: dict[dt.date, DayActivity] = {}
    for day in days:
        by_date[day.date] = by_date[day.date] + day if day.date in by_date else day
    return tuple(by_date[d] for d in sorted(by_date))


@dataclass(frozen=True)
class AggregatedAnswer:
    """One parsed ``/aggregated`` response, everything in it that does not depend on when or
    how it was read, so a cached answer is parsed, merged and summed once per process."""

    days: tuple[DayActivity, ...]
    totals: Metrics
    truncated_key_lists: bool


def parse_aggregated(body: Any) -> AggregatedAnswer:
    """Parse an ``/aggregated`` body: days merged and sorted, totals, and whether LiteLLM cut
    its per-key lists (``total_api_keys`` above the hashes it returned, LiteLLM 1.106+)."""
    page = parse_activity_page(body)
    days = merge_days(page.days)
    returned = {h for day in days for h in day.api_keys}
    return AggregatedAnswer(
        days=days,
        totals=Metrics.sum(d.metrics for d in days),
        truncated_key_lists=page.total_api_keys is not None and page.total_api_keys > len(returned),
    )
