"""Typed results of the LiteLLM client and the ONE place where LiteLLM JSON is parsed.

Parsing is tolerant on purpose (CONTRACT §5 "Field history", §10.7): missing metrics are 0,
unknown fields are ignored, 1.65-style breakdown values (bare metrics, no ``metrics``/``metadata``
wrapper) and 1.70-style breakdowns (no ``api_key_breakdown``) are accepted. Shapes that cannot be
read at all raise :class:`ShapeError`, which the client turns into ``LiteLLMBadResponse``.

The usage results are deeply immutable: their Mapping fields are read-only
(``types.MappingProxyType``), because the client hands the same parsed object to every view that
reads the same cached response (:class:`~.memo.ParsedMemo`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

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

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only view of a fresh dict (nobody else holds the dict, so it never changes)."""
    return MappingProxyType(dict(items) if items else {})


class ShapeError(ValueError):
    """A LiteLLM payload does not have the documented shape."""


def is_token_hash(value: Any) -> bool:
    """True for a lowercase 64-hex sha256 digest, the form LiteLLM uses as key id."""
    return isinstance(value, str) and bool(_HEX64.match(value))


def hash_secret(secret: str) -> str:
    """LiteLLM's ``hash_token``: sha256 hex of the raw ``sk-`` key, no salt (CONTRACT §1)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# --------------------------------------------------------------------------- usage


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

    @classmethod
    def zero(cls) -> Metrics:
        """All counters 0."""
        return cls()

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

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict in ``METRIC_NAMES`` order (for JSON / templates)."""
        return {n: getattr(self, n) for n in METRIC_NAMES}

    @classmethod
    def sum(cls, items) -> Metrics:
        """Sum an iterable of Metrics (empty → zero), left to right like repeated ``+``."""
        total = _ZERO_METRICS
        for item in items:
            total = total + item
        return total


_ZERO_METRICS = Metrics()


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
    api_key_breakdown: Mapping[str, Metrics] = field(default_factory=_frozen_map)

    def __add__(self, other: BreakdownEntry) -> BreakdownEntry:
        return BreakdownEntry(
            metrics=self.metrics + other.metrics,
            api_key_breakdown=_merge_maps(self.api_key_breakdown, other.api_key_breakdown),
        )


@dataclass(frozen=True)
class DayActivity:
    """Usage of one UTC day (CONTRACT §6)."""

    date: dt.date
    metrics: Metrics
    models: Mapping[str, BreakdownEntry] = field(default_factory=_frozen_map)
    providers: Mapping[str, BreakdownEntry] = field(default_factory=_frozen_map)
    api_keys: Mapping[str, KeyUsageEntry] = field(default_factory=_frozen_map)

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

    ``days`` are merged, ascending by date, and only the days LiteLLM returned (no zero-fill).
    ``totals`` is computed from ``days``, never from LiteLLM's ``metadata`` (which is per page on
    the paginated endpoint). ``endpoint`` is ``"aggregated"`` or ``"paginated"``. ``fetched_at``
    is the UTC time the data left LiteLLM (the cache entry's creation time when ``from_cache``).
    ``stale`` means an expired cache entry was served because LiteLLM failed.
    ``truncated_key_lists`` means LiteLLM's per-key lists were cut at ``api_key_limit``
    (CONTRACT §10.8): query per key with ``api_key=<hash>`` for exact per-key figures.
    """

    days: tuple[DayActivity, ...]
    totals: Metrics
    endpoint: str
    pages: int
    fetched_at: dt.datetime
    from_cache: bool
    stale: bool
    truncated_key_lists: bool = False

    def key_hashes(self) -> frozenset[str]:
        """All token hashes that appear in any day's ``api_keys``."""
        return frozenset(h for day in self.days for h in day.api_keys)


def _merge_maps(a: Mapping[str, Any], b: Mapping[str, Any]) -> Mapping[str, Any]:
    merged = dict(a)
    for k, v in b.items():
        merged[k] = merged[k] + v if k in merged else v
    return MappingProxyType(merged)


def _num(value: Any, kind: type) -> float | int:
    if value is None or isinstance(value, bool):
        return kind(0)
    try:
        return kind(value)
    except (TypeError, ValueError):
        try:
            return kind(float(value))
        except (TypeError, ValueError):
            return kind(0)


_METRIC_TYPES = {f.name: (float if f.type in ("float", float) else int) for f in fields(Metrics)}


def parse_metrics(raw: Any) -> Metrics:
    """Metrics from a ``SpendMetrics`` dict; missing or null values are 0, extras ignored."""
    if raw is None:
        return Metrics()
    if not isinstance(raw, Mapping):
        raise ShapeError(f"metrics must be an object, got {type(raw).__name__}")
    return Metrics(**{n: _num(raw.get(n), _METRIC_TYPES[n]) for n in METRIC_NAMES})


def _unwrap(raw: Any) -> tuple[Mapping, Mapping, Mapping]:
    """Return (metrics, metadata, api_key_breakdown) of a breakdown value in any version's
    shape: ``{"metrics": …, "metadata": …, "api_key_breakdown": …}`` or 1.65's bare metrics."""
    if not isinstance(raw, Mapping):
        raise ShapeError(f"breakdown value must be an object, got {type(raw).__name__}")
    if isinstance(raw.get("metrics"), Mapping):
        meta = raw.get("metadata")
        akb = raw.get("api_key_breakdown")
        return (
            raw["metrics"],
            meta if isinstance(meta, Mapping) else {},
            akb if isinstance(akb, Mapping) else {},
        )
    return raw, {}, {}


def _parse_breakdown(raw: Any) -> Mapping[str, BreakdownEntry]:
    if not raw:
        return _frozen_map()
    if not isinstance(raw, Mapping):
        raise ShapeError("breakdown must be an object")
    out = {}
    for name, value in raw.items():
        metrics, _meta, akb = _unwrap(value)
        out[str(name)] = BreakdownEntry(
            metrics=parse_metrics(metrics),
            api_key_breakdown=MappingProxyType(
                {str(h): parse_metrics(_unwrap(v)[0]) for h, v in akb.items()}
            ),
        )
    return MappingProxyType(out)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse_key_usage(raw: Any) -> Mapping[str, KeyUsageEntry]:
    if not raw:
        return _frozen_map()
    if not isinstance(raw, Mapping):
        raise ShapeError("breakdown.api_keys must be an object")
    out = {}
    for token, value in raw.items():
        metrics, meta, _akb = _unwrap(value)
        key_exists = meta.get("key_exists")
        out[str(token)] = KeyUsageEntry(
            metrics=parse_metrics(metrics),
            key_alias=_opt_str(meta.get("key_alias")),
            user_id=_opt_str(meta.get("user_id")),
            key_exists=key_exists if isinstance(key_exists, bool) else None,
        )
    return MappingProxyType(out)


def parse_day(raw: Any) -> DayActivity:
    """One ``DailySpendData`` entry."""
    if not isinstance(raw, Mapping):
        raise ShapeError("results[] entries must be objects")
    try:
        day = dt.date.fromisoformat(str(raw["date"])[:10])
    except (KeyError, ValueError) as exc:
        raise ShapeError(f"results[] entry without a valid date: {raw.get('date')!r}") from exc
    breakdown = raw.get("breakdown") or {}
    if not isinstance(breakdown, Mapping):
        raise ShapeError("results[].breakdown must be an object")
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
        total_pages=int(_num(meta.get("total_pages"), int)),
        total_api_keys=total_api_keys if isinstance(total_api_keys, int) else None,
    )


def merge_days(days) -> tuple[DayActivity, ...]:
    """Merge entries of the same date and sort ascending."""
    by_date: dict[dt.date, DayActivity] = {}
    for day in days:
        by_date[day.date] = by_date[day.date] + day if day.date in by_date else day
    return tuple(by_date[d] for d in sorted(by_date))


# --------------------------------------------------------------------------- keys


def parse_datetime(value: Any) -> dt.datetime | None:
    """ISO-8601 (``Z`` or offset) → aware UTC datetime; naive values are taken as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ShapeError(f"invalid datetime {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _models(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(m) for m in value)
    return ()


def _key_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a ``/key/list`` object and ``/key/info``'s ``info`` share, parsed alike, so
    the two results cannot drift apart (a null spend is 0, a bad budget is no budget)."""
    metadata = raw.get("metadata")
    return {
        "key_alias": _opt_str(raw.get("key_alias")),
        "key_name": _opt_str(raw.get("key_name")),
        "user_id": _opt_str(raw.get("user_id")),
        "spend": float(_num(raw.get("spend"), float)),
        "max_budget": _opt_float(raw.get("max_budget")),
        "models": _models(raw.get("models")),
        "metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
    }


@dataclass(frozen=True)
class KeyRecord:
    """One virtual key as listed by ``/key/list?return_full_object=true``. ``token`` is the
    sha256 hash (the key id); the raw secret is never available here."""

    token: str
    key_alias: str | None
    key_name: str | None
    user_id: str | None
    spend: float
    max_budget: float | None
    expires: dt.datetime | None
    models: tuple[str, ...]
    metadata: Mapping[str, Any]
    blocked: bool
    created_at: dt.datetime | None


def parse_key_record(raw: Any) -> KeyRecord:
    """One full key object (``UserAPIKeyAuth``)."""
    if not isinstance(raw, Mapping):
        raise ShapeError("key list items are not objects (return_full_object=true was ignored?)")
    token = raw.get("token")
    if not isinstance(token, str) or not token:
        raise ShapeError("key object without 'token'")
    return KeyRecord(
        token=token,
        expires=parse_datetime(raw.get("expires")),
        blocked=bool(raw.get("blocked")),
        created_at=parse_datetime(raw.get("created_at")),
        **_key_fields(raw),
    )


@dataclass(frozen=True)
class KeyPage:
    """One page of ``/key/list`` after the client-side equality post-filter.

    ``raw_count`` is how many items LiteLLM returned before filtering; ``fetched_at`` is when
    this page left LiteLLM (UTC).
    """

    keys: tuple[KeyRecord, ...]
    page: int
    total_pages: int
    total_count: int
    raw_count: int
    from_cache: bool = False
    stale: bool = False
    fetched_at: dt.datetime | None = None


@dataclass(frozen=True)
class KeyListResult:
    """All keys matching a :meth:`LiteLLMClient.list_keys` call.

    ``keys`` are de-duplicated by token in LiteLLM's order (``created_at desc``); ``pages`` is the
    number of pages fetched; ``total_count`` is LiteLLM's count for the upstream filter (it may
    exceed ``len(keys)`` on versions that matched substrings); ``fetched_at`` is the oldest page's
    fetch time. Iterating yields the keys.
    """

    keys: tuple[KeyRecord, ...]
    pages: int
    total_count: int
    fetched_at: dt.datetime | None = None
    from_cache: bool = False
    stale: bool = False

    def __iter__(self) -> Iterator[KeyRecord]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def by_alias(self) -> dict[str, KeyRecord]:
        """Keys indexed by ``key_alias`` (keys without alias are skipped)."""
        return {k.key_alias: k for k in self.keys if k.key_alias is not None}


@dataclass(frozen=True)
class GeneratedKey:
    """Result of ``/key/generate``. ``secret`` is the raw ``sk-`` key: show it once, never
    store or log it (it is excluded from ``repr``). ``token_id`` is its sha256 hash."""

    secret: str = field(repr=False)
    token_id: str
    key_name: str | None
    key_alias: str | None
    user_id: str | None
    expires: dt.datetime | None
    max_budget: float | None


def parse_generated_key(body: Any) -> GeneratedKey:
    """Parse ``GenerateKeyResponse`` and establish the token id (CONTRACT §3, #10191).

    ``token_id`` wins; on 1.65 ``token`` held the raw key, so ``token`` is accepted only when it
    is a 64-hex hash; otherwise the id is computed as sha256(secret). A ``token_id`` that is not
    sha256(secret) is an error, because the portal would store a wrong id.
    """
    if not isinstance(body, Mapping):
        raise ShapeError("expected an object")
    secret = body.get("key")
    if not isinstance(secret, str) or not secret:
        raise ShapeError("response has no 'key' (the raw secret)")
    expected = hash_secret(secret)
    token_id = body.get("token_id")
    if token_id is not None:
        if token_id != expected:
            raise ShapeError("token_id does not match sha256 of the returned key")
    else:
        token = body.get("token")
        if is_token_hash(token) and token != expected:
            raise ShapeError("token does not match sha256 of the returned key")
        token_id = expected
    return GeneratedKey(
        secret=secret,
        token_id=token_id,
        key_name=_opt_str(body.get("key_name")),
        key_alias=_opt_str(body.get("key_alias")),
        user_id=_opt_str(body.get("user_id")),
        expires=parse_datetime(body.get("expires")),
        max_budget=_opt_float(body.get("max_budget")),
    )


@dataclass(frozen=True)
class KeyInfo:
    """Result of ``/key/info`` (``info`` has no ``token``; CONTRACT §4). ``status`` is
    ``active|expired|revoked|deleted`` on 1.106+, else derived from ``blocked``/``expires``."""

    key_alias: str | None
    key_name: str | None
    user_id: str | None
    spend: float
    max_budget: float | None
    expires: dt.datetime | None
    blocked: bool
    status: str
    models: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


def parse_key_info(body: Any, now: dt.datetime | None = None) -> KeyInfo:
    """Parse ``{"key": …, "info": {…}}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("info"), Mapping):
        raise ShapeError("expected an object with an 'info' object")
    info = body["info"]
    expires = parse_datetime(info.get("expires"))
    blocked = bool(info.get("blocked"))
    status = info.get("status")
    if not isinstance(status, str) or not status:
        now = now or dt.datetime.now(dt.UTC)
        if blocked:
            status = "revoked"
        elif expires is not None and expires <= now:
            status = "expired"
        else:
            status = "active"
    return KeyInfo(expires=expires, blocked=blocked, status=status, **_key_fields(info))
