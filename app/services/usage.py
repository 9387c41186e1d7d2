"""Usage reports for one key or for all of a user's keys, from LiteLLM's daily activity.

Framework-light: functions take model objects and dates and return a frozen
:class:`UsageReport`, so the user page, the exports and the admin view share them.

Safety rule (docs/litellm.md, "Known LiteLLM bugs"): only entries whose token hash belongs to
the keys being reported are counted (``breakdown.api_keys[<hash>]`` and
``api_key_breakdown[<hash>]``), never a day's ``metrics`` as such. A proxy that ignores the
``user_id`` filter can then never show someone else's usage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from app.models import ApiKey, User
from app.services.alias_history import history_by_alias
from app.services.key_listing import keys_of
from app.services.lineage import Lineage, read_lineage
from app.services.litellm import (
    BreakdownEntry,
    DailyActivity,
    DayActivity,
    Metrics,
    covers_recent_usage,
)
from app.services.litellm.cache import MISSING, ParsedMemo
from app.services.litellm.gc_pause import collections_paused
from app.services.tokens import UnknownAlias, resolve_missing_tokens, resolve_token

_T = TypeVar("_T")
_ZERO = Metrics()  # immutable, so one instance serves every "nothing yet" default
# Sums per held days and tokens (UsageAccumulator.add), weighed by the Metrics they hold (about
# 400 bytes each): a key's 42 days weigh about 100, an organisation's 10,000 keys over 90 days
# about 120,000. So about 500 users' sums (20 MiB) or a few organisations' share one budget.
_SUMS = ParsedMemo(512, max_weight=400_000)

__all__ = [
    "ChartMarker",
    "DayRow",
    "KeyUsageRow",
    "NamedRow",
    "UsageAccumulator",
    "UsageReport",
    "accumulate_tokens",
    "key_lists_truncated",
    "rotation_markers",
    "usage_for_key",
    "usage_for_user",
    "with_rotation_markers",
]


@dataclass(frozen=True)
class DayRow:
    """One UTC day of the range; days without usage are present with zero metrics."""

    date: dt.date
    metrics: Metrics


@dataclass(frozen=True)
class NamedRow:
    """One model or provider with its metrics over the range."""

    name: str
    metrics: Metrics


@dataclass(frozen=True)
class KeyUsageRow:
    """One of the user's keys in an "all keys" report. ``token_known`` False means LiteLLM
    could not tell us its token id, so its usage cannot be attributed (shown as such)."""

    id: int
    label: str
    alias: str  # the LiteLLM key_alias
    revoked: bool
    token_known: bool
    metrics: Metrics


@dataclass(frozen=True)
class ChartMarker:
    """A day to mark on the chart, e.g. the UTC day a key's secret was rotated."""

    day: dt.date
    label: str


@dataclass(frozen=True)
class UsageReport:
    """Everything the usage page and the exports show for one query."""

    start: dt.date
    end: dt.date
    key: ApiKey | None  # None: all of the user's keys
    totals: Metrics
    daily: tuple[DayRow, ...]
    models: tuple[NamedRow, ...]
    providers: tuple[NamedRow, ...]
    keys: tuple[KeyUsageRow, ...]
    as_of: dt.datetime
    stale: bool = False
    from_cache: bool = False
    calls: int = 0  # LiteLLM daily-activity responses combined (per-key fallback > 1)
    # The range reaches the last minutes, whose usage LiteLLM may not have written yet.
    recent: bool = False
    markers: tuple[ChartMarker, ...] = ()  # days in the range on which a key was rotated
    # The key's token id is unknown: its history was found by its alias and owner instead.
    matched_by_alias: bool = False
    # Per UTC day of each key ("all keys" reports) and of each model: the chart's comparisons.
    key_daily: Mapping[int, Mapping[dt.date, Metrics]] = field(default_factory=dict)
    model_daily: Mapping[str, Mapping[dt.date, Metrics]] = field(default_factory=dict)
    provider_daily: Mapping[str, Mapping[dt.date, Metrics]] = field(default_factory=dict)
    # What the sums came from (held days with their fetch times, the tokens counted): equal
    # bases give equal sums. None when the report was not summed from one such answer.
    basis: Hashable | None = None

    @property
    def unresolved_keys(self) -> tuple[KeyUsageRow, ...]:
        """Keys whose usage could not be counted because LiteLLM has no token for them."""
        return tuple(k for k in self.keys if not k.token_known)


def _client():
    from app.services import litellm_client

    return litellm_client()


def usage_for_key(
    key: ApiKey, start: dt.date, end: dt.date, *, refresh: bool = False, client=None
) -> UsageReport:
    """Usage of one key over all its tokens (rotations): ONE daily-activity call.

    A key with one token is filtered by ``api_key=<token>``; a rotated key by its owner's
    ``user_id``, counting only the entries of its own tokens. Resolves a missing token first
    (:func:`resolve_token`); a key LiteLLM no longer lists is then matched by alias and owner in
    the activity (``matched_by_alias``), and only when that finds nothing either ``UnknownAlias``
    is raised. ``refresh`` bypasses the HTTP cache. LiteLLM failures raise ``LiteLLMError``.
    """
    client = client or _client()
    try:
        token = resolve_token(key, client=client)
    except UnknownAlias:
        # Deleted before its token id was stored: LiteLLM's activity still names it.
        activity, tokens = history_by_alias(key, start, end, client=client, refresh=refresh)
        if not tokens:
            raise
        acc = UsageAccumulator(start, end)
        acc.add(activity, tokens)
        return replace(acc.report(key=key, keys=()), matched_by_alias=True)
    lineage = read_lineage([key])
    tokens = set(lineage.key_by_token) | {token}
    if len(tokens) == 1:
        activity = client.daily_activity(start, end, api_key=token, force_refresh=refresh)
        acc = UsageAccumulator(start, end)
        acc.add(activity, {token})
    else:
        acc = accumulate_tokens(
            client,
            start,
            end,
            dict.fromkeys(tokens, key.id),
            refresh=refresh,
            user_id=key.user.litellm_user_id,
        )
    return with_rotation_markers(acc.report(key=key, keys=()), lineage)


def usage_for_user(
    user: User, start: dt.date, end: dt.date, *, refresh: bool = False, client=None
) -> UsageReport:
    """Usage of all of ``user``'s keys (revoked included): ONE call filtered by ``user_id``.

    Missing token ids are resolved first with one ``/key/list`` sweep for the user. Entries are
    counted only for this user's tokens. When LiteLLM cut its per-key lists
    (``truncated_key_lists``) the per-key figures are incomplete, so each key is then queried
    on its own with ``api_key=<token>``.
    """
    client = client or _client()
    keys = keys_of(user, newest_first=False)
    if any(not k.litellm_token_id for k in keys):
        tokens_by_id = resolve_missing_tokens(user, keys, client=client)
    else:
        tokens_by_id = {k.id: k.litellm_token_id for k in keys}
    key_by_token = {token: key_id for key_id, token in tokens_by_id.items()}
    lineage = read_lineage(keys)
    key_by_token.update(lineage.key_by_token)  # every earlier token of a rotated key too
    acc = accumulate_tokens(
        client, start, end, key_by_token, refresh=refresh, user_id=user.litellm_user_id
    )
    rows = tuple(
        KeyUsageRow(
            id=k.id,
            label=k.label,
            alias=k.alias,
            revoked=k.is_revoked,
            token_known=k.id in tokens_by_id,
            metrics=acc.per_key.get(k.id, Metrics()),
        )
        for k in keys
    )
    return with_rotation_markers(acc.report(key=None, keys=rows), lineage)


def with_rotation_markers(report: UsageReport, lineage: Lineage) -> UsageReport:
    """``report`` with a chart marker for each UTC day in its range on which a key rotated."""
    markers = rotation_markers(lineage, report.start, report.end)
    return replace(report, markers=markers) if markers else report


def rotation_markers(lineage: Lineage, start: dt.date, end: dt.date) -> tuple:
    """A chart marker for each UTC day in ``start..end`` on which one of the keys rotated."""
    # One marker per key and day, each with its own label (two keys rotated on one day are two
    # labels, not one joined "Rotated: a, b" that runs off the chart).
    seen: dict[tuple[dt.date, str], None] = {}
    for rotation in lineage.rotations(start, end):
        seen.setdefault((rotation.day, rotation.label), None)
    return tuple(ChartMarker(day, f"Rotated: {label}") for day, label in sorted(seen))


def accumulate_tokens(
    client,
    start: dt.date,
    end: dt.date,
    key_by_token: Mapping[str, int],
    *,
    refresh: bool = False,
    **filters: str,
) -> UsageAccumulator:
    """Count the usage of ``key_by_token``'s tokens, the way every multi-key report does.

    ONE daily-activity call narrowed by ``filters`` (``user_id=`` for one user, none for all
    users; more tokens than LiteLLM's ``api_key_limit`` read its rows endpoint at once); when
    LiteLLM cut its per-key lists (:func:`key_lists_truncated`) that answer is dropped and
    each token is queried on its own with ``api_key=<token>``. No call without tokens.
    LiteLLM failures raise ``LiteLLMError``.
    """
    acc = UsageAccumulator(start, end, key_by_token)
    if not key_by_token:
        return acc
    activity = client.daily_activity(
        start, end, force_refresh=refresh, keys=len(key_by_token), **filters
    )
    if key_lists_truncated(activity, getattr(client, "api_key_limit", None)):
        for token in key_by_token:
            per_key = client.daily_activity(start, end, api_key=token, force_refresh=refresh)
            acc.add(per_key, {token})
    else:
        acc.add(activity, set(key_by_token))
    return acc


def key_lists_truncated(activity: DailyActivity, limit: int | None) -> bool:
    """Whether any per-key list may have been cut at ``api_key_limit``.

    When True, per-key figures from one aggregated call are incomplete, so callers (the user
    report here, the all-users report in ``app.services.admin``) fall back to one exact call per
    key with ``api_key=<token>``. The client's flag compares the union over all days with
    ``total_api_keys`` and misses a cut that happens on single days; a list that is exactly as
    long as the limit may be cut too.
    """
    if activity.truncated_key_lists:
        return True
    if not limit or activity.endpoint != "aggregated":
        return False
    for day in activity.days:
        if len(day.api_keys) >= limit:
            return True
        for entry in (*day.models.values(), *day.providers.values()):
            if len(entry.api_key_breakdown) >= limit:
                return True
    return False


class UsageAccumulator:
    """Sums the reported tokens' entries of one or more DailyActivity responses.

    The one summing rule of every usage report (one key, one user, all users): only entries of
    the tokens passed to :meth:`add` are counted (docs/litellm.md), so a proxy that ignores a
    filter cannot leak someone else's usage. ``key_by_token`` (token id → portal key id) also
    collects per-key totals in ``per_key`` for the "by key" and "by user" tables.
    """

    def __init__(self, start: dt.date, end: dt.date, key_by_token: Mapping[str, int] | None = None):
        self.start, self.end = start, end
        self.key_by_token = dict(key_by_token or {})
        self.days: dict[dt.date, Metrics] = {}
        self.models: dict[str, Metrics] = {}
        self.providers: dict[str, Metrics] = {}
        self.per_key: dict[int, Metrics] = {}
        self.key_days: dict[int, dict[dt.date, Metrics]] = {}
        self.model_days: dict[str, dict[dt.date, Metrics]] = {}
        self.provider_days: dict[str, dict[dt.date, Metrics]] = {}
        self.last_used: dict[int, dt.date] = {}  # the last day each key made a request
        self.as_of: dt.datetime | None = None
        self.stale = False
        self.from_cache = True
        self.calls = 0
        self._shared = False  # the sums are a memo entry's (see add)
        self.sums_key: tuple | None = None  # names the sums when they came from one add

    def add(self, activity: DailyActivity, tokens: set[str]) -> None:
        """Count ``tokens``' entries of every day of ``activity`` inside the range.

        Sums are memoised per process by the exact held days they came from (day and fetch
        time, :class:`DailyActivity`) and the tokens counted: a warm view of the same range is
        a lookup, and one whose last days were fetched again (today) adds up only those, on top
        of the sums over its leading settled days, whose figures no longer change.
        """
        first = self.calls == 0
        self.calls += 1
        self.stale = self.stale or activity.stale
        self.from_cache = self.from_cache and activity.from_cache
        if self.as_of is None or activity.fetched_at < self.as_of:
            self.as_of = activity.fetched_at
        held = [h for h in activity.held if self.start <= h.date <= self.end]
        self.sums_key = None
        if not (first and activity.source):
            self._add_held(held, tokens)
            return
        counted = (activity.source, frozenset(tokens), frozenset(self.key_by_token.items()))
        whole = (counted, tuple(h.stamp for h in held))
        found = _SUMS.get(whole)
        if found is not MISSING:
            self._restore(found)
            self.sums_key = whole
            return
        settled = 0
        while settled < len(held) and held[settled].settled:
            settled += 1
        if 0 < settled < len(held):
            prefix = (counted, whole[1][:settled])
            found = _SUMS.get(prefix)
            if found is not MISSING:
                self._restore(found)
            else:
                self._add_held(held[:settled], tokens)
                _SUMS.put(prefix, self._state(), self._weight())
            held = held[settled:]
        self._add_held(held, tokens)
        _SUMS.put(whole, self._state(), self._weight())
        self.sums_key = whole

    _FLAT = ("days", "models", "providers", "per_key", "last_used")
    _NESTED = ("key_days", "model_days", "provider_days")

    def _add_held(self, held: list, tokens: set[str]) -> None:
        for h in held:
            # A big held day is decoded for this sum only: no collection visits its objects.
            with collections_paused(len(h.entry[0]) if h.entry is not None else 0):
                day = h.activity
                if day is not None:
                    self._add_day(day, tokens)
                del day

    def _state(self) -> dict:
        """The sums so far, shared from now on: adding to them first copies them."""
        self._shared = True
        return {name: getattr(self, name) for name in (*self._FLAT, *self._NESTED)}

    def _weight(self) -> int:
        """How many Metrics the sums hold (their share of the memo's budget)."""
        flat = sum(len(getattr(self, name)) for name in self._FLAT)
        return flat + sum(len(d) for name in self._NESTED for d in getattr(self, name).values())

    def _restore(self, state: Mapping) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._shared = True

    def _own(self) -> None:
        """Copy shared sums before adding to them (a memo entry never changes)."""
        for name in self._FLAT:
            setattr(self, name, dict(getattr(self, name)))
        for name in self._NESTED:
            setattr(self, name, {k: dict(v) for k, v in getattr(self, name).items()})
        self._shared = False

    def _add_day(self, day: DayActivity, tokens: set[str]) -> None:
        if self._shared:
            self._own()
        mine = _mine(day.api_keys, tokens)
        day_total = Metrics.sum(e.metrics for e in mine.values())
        self.days[day.date] = self.days.get(day.date, _ZERO) + day_total
        for token, entry in mine.items():
            key_id = self.key_by_token.get(token)
            if key_id is not None:
                _add_to(self.per_key, key_id, entry.metrics)
                _add_to(self.key_days.setdefault(key_id, {}), day.date, entry.metrics)
                used = entry.metrics.api_requests or entry.metrics.successful_requests
                if used and day.date > self.last_used.get(key_id, day.date.min):
                    self.last_used[key_id] = day.date
        # Proxies before 1.77 have no api_key_breakdown: a bucket's own metrics are usable only
        # when every key of that day is one of ours.
        only_ours = bool(day.api_keys) and set(day.api_keys) <= tokens
        _add_breakdown(self.models, day.models, tokens, only_ours, self.model_days, day.date)
        _add_breakdown(
            self.providers, day.providers, tokens, only_ours, self.provider_days, day.date
        )

    def report(self, *, key: ApiKey | None, keys: tuple[KeyUsageRow, ...]) -> UsageReport:
        """The frozen report over the whole range: days without usage get zero rows, and
        ``as_of`` is the oldest response's fetch time (the data is at least that fresh)."""
        daily = tuple(DayRow(d, self.days.get(d, _ZERO)) for d in _date_range(self.start, self.end))
        return UsageReport(
            start=self.start,
            end=self.end,
            key=key,
            totals=Metrics.sum(r.metrics for r in daily),
            daily=daily,
            models=_ranked(self.models),
            providers=_ranked(self.providers),
            keys=keys,
            as_of=self.as_of or dt.datetime.now(dt.UTC),
            stale=self.stale,
            from_cache=self.from_cache and self.calls > 0,
            calls=self.calls,
            recent=covers_recent_usage(self.end),
            key_daily=self.key_days,
            model_daily=self.model_days,
            provider_daily=self.provider_days,
            basis=self.sums_key,
        )


def _add_breakdown(
    into: dict[str, Metrics],
    entries: Mapping[str, BreakdownEntry],
    tokens: set[str],
    only_ours: bool,
    by_day: dict[str, dict[dt.date, Metrics]] | None = None,
    date: dt.date | None = None,
) -> None:
    for name, entry in entries.items():
        if entry.api_key_breakdown:
            metrics = Metrics.sum(_mine(entry.api_key_breakdown, tokens).values())
        elif only_ours:
            metrics = entry.metrics
        else:
            continue
        if metrics != _ZERO:
            into[name] = into.get(name, _ZERO) + metrics
            if by_day is not None and date is not None:
                days = by_day.setdefault(name, {})
                days[date] = days.get(date, _ZERO) + metrics


def _add_to(sums: dict, name, metrics: Metrics) -> None:
    """``sums[name] += metrics``; the first one is kept as it is (Metrics never change)."""
    held = sums.get(name)
    sums[name] = metrics if held is None else held + metrics


def _mine(per_token: Mapping[str, _T], tokens: set[str]) -> Mapping[str, _T]:
    """The entries of ``tokens`` in ``per_token``'s order. One token (a key's report, the
    common case) is one lookup instead of a scan of every key of the day."""
    if len(tokens) == 1:
        (token,) = tokens
        value = per_token.get(token)
        return {} if value is None else {token: value}
    return {t: v for t, v in per_token.items() if t in tokens}


def _ranked(values: Mapping[str, Metrics]) -> tuple[NamedRow, ...]:
    """Highest spend first, then most tokens, then name: the order people scan for cost."""
    return tuple(
        NamedRow(name, m)
        for name, m in sorted(
            values.items(), key=lambda kv: (-kv[1].spend, -kv[1].total_tokens, kv[0])
        )
    )


def _date_range(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)
