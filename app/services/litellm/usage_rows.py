"""Pages of the rows endpoint (``/user/daily/activity``) read straight into compact day sums.

An organisation's range is a hundred pages of 1,000 rows, each page about 4 MB of JSON. Read
into ``Metrics``/``DayActivity`` objects (:mod:`.usage_results`), merged, then encoded for the
day cache, they cost most of a cold view's CPU, and the garbage collector's visits to all
those objects on top. Here a page is read into the day cache's own layout instead, plain lists
and dicts that the collector mostly leaves alone, merged by adding in place and stored as they
are (:meth:`~.day_cache.UsageDayCache.write_compact`)::

    {"m": [metrics], "mo": {model: [[metrics], {token: [metrics]}]}, "pr": {provider: ...},
     "k": {token: [[metrics], key_alias, user_id, key_exists]}}

where ``[metrics]`` are the values in ``METRIC_NAMES`` order. Read with the same helpers and
checks as :func:`~.usage_results.parse_activity_page`, and added in the same order as
``DayActivity.__add__``, a page gives the same figures (the same floats) or the same
``ShapeError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .parsing import ShapeError, as_number, opt_str
from .usage_results import day_and_breakdown, metric_values, unwrap

__all__ = ["CompactDay", "RowsPage", "merge_day", "parse_rows_page"]

CompactDay = dict[str, Any]


@dataclass(eq=False)
class RowsPage:
    """One page of the rows endpoint: its days (date, compact day) and how many pages follow."""

    days: tuple[tuple[dt.date, CompactDay], ...]
    has_more: bool
    total_pages: int


def parse_rows_page(body: Any) -> RowsPage:
    """Read one ``SpendAnalyticsPaginatedResponse`` into compact days."""
    if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
        raise ShapeError("expected an object with a 'results' list")
    meta = body.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise ShapeError("'metadata' must be an object")
    return RowsPage(
        days=tuple(_day(r) for r in body["results"]),
        has_more=bool(meta.get("has_more", False)),
        total_pages=int(as_number(meta.get("total_pages"), int, "metadata.total_pages")),
    )


def _day(raw: Any) -> tuple[dt.date, CompactDay]:
    day, breakdown = day_and_breakdown(raw)
    return day, {
        "m": metric_values(raw.get("metrics")),
        "mo": _breakdown(breakdown.get("models")),
        "pr": _breakdown(breakdown.get("providers")),
        "k": _key_usage(breakdown.get("api_keys")),
    }


def _breakdown(raw: Any) -> dict[str, list]:
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ShapeError("breakdown must be an object")
    out = {}
    for name, value in raw.items():
        metrics, _meta, per_key = unwrap(value)
        out[str(name)] = [
            metric_values(metrics),
            {str(h): metric_values(unwrap(v)[0]) for h, v in per_key.items()},
        ]
    return out


def _key_usage(raw: Any) -> dict[str, list]:
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ShapeError("breakdown.api_keys must be an object")
    out = {}
    for token, value in raw.items():
        metrics, meta, _per_key = unwrap(value)
        exists = meta.get("key_exists")
        out[str(token)] = [
            metric_values(metrics),
            opt_str(meta.get("key_alias")),
            opt_str(meta.get("user_id")),
            exists if isinstance(exists, bool) else None,
        ]
    return out


def merge_day(days: dict[dt.date, CompactDay], date: dt.date, day: CompactDay) -> None:
    """Add ``day`` (a later page's part of ``date``) to ``days``, in place, as
    ``DayActivity.__add__`` adds: figures summed, entries in first-seen order, a key's alias,
    owner and existence from the first part that has them."""
    held = days.get(date)
    if held is None:
        days[date] = day
        return
    _add(held["m"], day["m"])
    for part in ("mo", "pr"):
        entries = held[part]
        for name, (metrics, per_key) in day[part].items():
            entry = entries.get(name)
            if entry is None:
                entries[name] = [metrics, per_key]
                continue
            _add(entry[0], metrics)
            _add_each(entry[1], per_key)
    keys = held["k"]
    for token, (metrics, alias, user, exists) in day["k"].items():
        entry = keys.get(token)
        if entry is None:
            keys[token] = [metrics, alias, user, exists]
            continue
        _add(entry[0], metrics)
        for i, value in ((1, alias), (2, user), (3, exists)):
            if entry[i] is None:
                entry[i] = value


def _add_each(into: dict[str, list], more: Mapping[str, list]) -> None:
    for token, metrics in more.items():
        held = into.get(token)
        if held is None:
            into[token] = metrics
        else:
            _add(held, metrics)


def _add(into: list, more: list) -> None:
    for i, value in enumerate(more):
        into[i] += value
