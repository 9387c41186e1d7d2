"""The query parameters shared by the usage page and its exports, parsed and validated once.

Dates are inclusive UTC days, because LiteLLM buckets usage by UTC calendar day (docs/litellm.md).
Framework-free on purpose: the admin view and the CLI can reuse it with any mapping of strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.calendar_bounds import OUT_OF_RANGE, in_calendar, parse_day
from app.ids import parse_id
from app.services.litellm import METRIC_NAMES

MAX_RANGE_DAYS = 366
DEFAULT_PRESET = "7d"
PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "ytd": "Year to date",
    "custom": "Custom",
}
METRICS = {"spend": "Spend", "tokens": "Tokens", "requests": "Requests"}
DEFAULT_METRIC = "spend"
# What the chart's bars are split by: the metric's own parts, the models, or selected keys.
VIEWS = {"total": "Total", "models": "By model", "keys": "Compare keys"}
DEFAULT_VIEW = "total"
MAX_COMPARED_KEYS = 8
# Table columns that can be sorted: the row's name, then every metric.
SORT_COLUMNS = ("name", *METRIC_NAMES)
DEFAULT_SORT = "-spend"


def utc_today() -> dt.date:
    """Today's UTC date: the only "today" that matches LiteLLM's day buckets."""
    return dt.datetime.now(dt.UTC).date()


def preset_range(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The inclusive (start, end) UTC days of a named preset."""
    if preset == "today":
        return today, today
    if preset == "yesterday":
        yesterday = today - dt.timedelta(days=1)
        return yesterday, yesterday
    if preset == "7d":
        return today - dt.timedelta(days=6), today
    if preset == "30d":
        return today - dt.timedelta(days=29), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return end.replace(day=1), end
    if preset == "ytd":
        return today.replace(month=1, day=1), today
    raise ValueError(f"unknown preset {preset!r}")


class InvalidUsageQuery(ValueError):
    """The query string cannot be used; ``errors`` maps field name → message for the form."""

    def __init__(self, errors: Mapping[str, str], raw: Mapping[str, str]):
        self.errors = dict(errors)
        self.raw = dict(raw)
        super().__init__("; ".join(self.errors.values()))


@dataclass(frozen=True)
class UsageQuery:
    """A validated usage query. ``key_id`` None means "all my keys"."""

    key_id: int | None
    start: dt.date
    end: dt.date
    preset: str = "custom"
    metric: str = DEFAULT_METRIC
    refresh: bool = False
    view: str = DEFAULT_VIEW
    compare: tuple[int, ...] = ()  # key ids for the "keys" view; empty: the top keys
    sort: str = DEFAULT_SORT  # a SORT_COLUMNS name, "-" first for descending
    raw: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def days(self) -> int:
        """Number of UTC days in the range (both ends inclusive)."""
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> tuple[dt.date, dt.date]:
        """The period of the same length just before this one (for the cards' deltas)."""
        end = self.start - dt.timedelta(days=1)
        return end - dt.timedelta(days=self.days - 1), end

    @property
    def key_param(self) -> str:
        """The ``key`` query value: an id or ``all``."""
        return "all" if self.key_id is None else str(self.key_id)

    def params(self, **overrides) -> dict[str, str]:
        """Query parameters reproducing this view (for url_for); ``refresh`` is never kept."""
        params = {"key": self.key_param, "preset": self.preset}
        if self.preset == "custom":
            params.update(start_date=self.start.isoformat(), end_date=self.end.isoformat())
        if self.metric != DEFAULT_METRIC:
            params["metric"] = self.metric
        if self.view != DEFAULT_VIEW:
            params["view"] = self.view
        if self.view == "keys" and self.compare:
            params["compare"] = ",".join(map(str, self.compare))
        if self.sort != DEFAULT_SORT:
            params["sort"] = self.sort
        params.update({k: str(v) for k, v in overrides.items() if v is not None})
        for name, default in (("view", DEFAULT_VIEW), ("sort", DEFAULT_SORT)):
            if params.get(name) == default:
                del params[name]  # a link back to the default view carries no default values
        return params

    def export_params(self) -> dict[str, str]:
        """Explicit dates, so an export is exactly the range on screen even after midnight."""
        return {
            "key": self.key_param,
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
        }

    @classmethod
    def parse(cls, args: Mapping[str, str], *, today: dt.date | None = None) -> UsageQuery:
        """Validate ``key``, ``preset``, ``start_date``, ``end_date``, ``metric``, ``refresh``,
        ``view``, ``compare`` and ``sort``.

        A preset other than ``custom`` wins over explicit dates; explicit dates without a
        preset mean ``custom``; nothing at all means the last 7 days including today.
        Raises :class:`InvalidUsageQuery` with every problem found, never anything else.
        """
        today = today or utc_today()
        raw = {
            name: (args.get(name) or "").strip()
            for name in (
                "key", "preset", "start_date", "end_date", "metric", "refresh", "view", "sort"
            )
        }  # fmt: skip
        # "compare" may come as one comma-separated value or as repeated checkboxes.
        compare_values = args.getlist("compare") if hasattr(args, "getlist") else []
        raw["compare"] = ",".join(
            v.strip() for v in compare_values or [args.get("compare") or ""] if v.strip()
        )
        errors: dict[str, str] = {}

        key_id: int | None = None
        key = (args.get("key") or "").lower()  # unstripped: " 1" is not an id
        if key not in ("", "all"):
            key_id = parse_id(key)
            if key_id is None:
                errors["key"] = "Key must be one of your keys or “all”."

        metric = raw["metric"].lower() or DEFAULT_METRIC
        if metric not in METRICS:
            errors["metric"] = "Chart metric must be spend, tokens or requests."

        view = raw["view"].lower() or DEFAULT_VIEW
        if view not in VIEWS:
            errors["view"] = "Chart view must be total, models or keys."
        compare: list[int] = []
        for part in raw["compare"].split(",") if raw["compare"] else ():
            compared = parse_id(part.strip())
            if compared is None:
                errors["compare"] = "Keys to compare must be key ids."
            elif compared not in compare:
                compare.append(compared)
        if len(compare) > MAX_COMPARED_KEYS:
            errors["compare"] = f"Compare at most {MAX_COMPARED_KEYS} keys at once."
        sort = raw["sort"] or DEFAULT_SORT
        if sort.removeprefix("-") not in SORT_COLUMNS:
            errors["sort"] = "Tables can be sorted by their columns only."

        preset = raw["preset"].lower()
        if not preset:
            preset = "custom" if (raw["start_date"] or raw["end_date"]) else DEFAULT_PRESET
        start = end = None
        if preset not in PRESETS:
            errors["preset"] = "Unknown period; pick one from the list."
        elif preset != "custom":
            start, end = preset_range(preset, today)
        else:
            start = _parse_date(raw["start_date"], "start_date", "Start date", errors)
            end = _parse_date(raw["end_date"], "end_date", "End date", errors)
            if start and end:
                if end < start:
                    errors["end_date"] = "End date is before the start date."
                elif (end - start).days + 1 > MAX_RANGE_DAYS:
                    errors["end_date"] = (
                        f"The range is longer than {MAX_RANGE_DAYS} days; pick a shorter one."
                    )
            if start and start > today:
                errors["start_date"] = "Start date is in the future (dates are UTC days)."
            elif end and end > today and "end_date" not in errors:
                # A range reaching into the future would compare days that cannot have usage.
                errors["end_date"] = (
                    f"End date is in the future; today is {today} (UTC). Pick today or earlier."
                )

        if errors or start is None or end is None:
            raise InvalidUsageQuery(errors, raw)
        return cls(
            key_id=key_id,
            start=start,
            end=end,
            preset=preset,
            metric=metric,
            view=view,
            compare=tuple(compare),
            sort=sort,
            refresh=raw["refresh"].lower() in ("1", "true", "yes", "on"),
            raw=raw,
        )


def _parse_date(value: str, name: str, label: str, errors: dict[str, str]) -> dt.date | None:
    if not value:
        errors[name] = f"{label} is required for a custom range (YYYY-MM-DD)."
        return None
    parsed = parse_day(value)
    if parsed is None:
        errors[name] = (
            f"{label}: {OUT_OF_RANGE}"
            if not in_calendar(value)
            else f"{label} must be a date written YYYY-MM-DD."
        )
    return parsed
