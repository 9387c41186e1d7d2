"""The scales of the usage chart: nice axis ticks, their labels, and days grouped into bars.

Pure functions of numbers and dates, so they are tested without a report or a template.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from app.services.money import format_money

NICE_STEPS = (1, 2, 2.5, 5)
# Up to this many days each day is a bar; up to WEEKS_UP_TO a week; beyond, a month.
DAYS_UP_TO = 45
WEEKS_UP_TO = 200


def nice_ticks(top_value: float, *, whole: bool, max_ticks: int = 5) -> tuple[float, ...]:
    """Axis values 0, s, 2s, … up to the first one ≥ ``top_value``, with the step ``s`` one of
    1, 2, 2.5 or 5 × 10ⁿ and at most ``max_ticks`` steps. ``whole`` (counts of tokens or
    requests) rules out fractional steps: 2.5 requests is not a tick anyone wants to read."""
    if whole:
        top_value = max(top_value, 4.0)  # 0..4: a 1-request axis would otherwise be 0, 1
    elif top_value <= 0:
        top_value = 1.0
    exponent = math.floor(math.log10(top_value / max_ticks))
    while True:
        for base in NICE_STEPS:
            step = base * 10.0**exponent
            if whole and (step < 1 or step != int(step)):
                continue
            count = math.ceil(top_value / step - 1e-9)
            if count <= max_ticks:
                return tuple(_clean(step * i) for i in range(count + 1))
        exponent += 1


def _clean(value: float) -> float:
    """0.30000000000000004 → 0.3: tick values are compared and printed, not summed."""
    return float(f"{value:.12g}")


def step_decimals(ticks: tuple[float, ...]) -> int:
    """Money decimals an axis needs: none for whole dollars ($0, $5, $10), else two, or more
    when the step is finer than a cent's tenth ($0.0025)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    if all(float(t).is_integer() for t in ticks):
        return 0
    return next(d for d in range(2, 9) if math.isclose(round(step, d), step, rel_tol=1e-9))


def tick_label(value: float, kind: str, decimals: int) -> str:
    """``$2.50`` / ``$10`` for money; ``2,500`` and from 10,000 on ``250k`` / ``1.5M`` for
    counts, short enough for the phone layout's left margin."""
    if kind == "money":
        return format_money(value, decimals)
    if value >= 1_000_000:
        return f"{_clean(value / 1_000_000):g}M"
    if value >= 10_000:
        return f"{_clean(value / 1_000):g}k"
    return f"{int(value):,}"


@dataclass(frozen=True)
class Bucket:
    """The days one bar stands for: one day, one week (Monday first) or one month, clipped to
    the range."""

    start: dt.date
    end: dt.date
    label: str  # under the bar
    title: str  # heading of its tooltip

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def grain_for(days: int) -> str:
    """``day`` for short ranges, ``week`` up to :data:`WEEKS_UP_TO` days, else ``month``."""
    if days <= DAYS_UP_TO:
        return "day"
    return "week" if days <= WEEKS_UP_TO else "month"


def buckets(start: dt.date, end: dt.date) -> tuple[str, tuple[Bucket, ...]]:
    """The grain and the bars of the range ``start``..``end`` (inclusive UTC days)."""
    grain = grain_for((end - start).days + 1)
    found = []
    day = start
    while day <= end:
        if grain == "day":
            last = day
            title = f"{day.isoformat()} (UTC)"
            label = day.strftime("%b %d")
        elif grain == "week":
            last = min(end, day + dt.timedelta(days=6 - day.weekday()))
            title = f"{day.isoformat()} to {last.isoformat()}"
            label = day.strftime("%b %d")
        else:
            next_month = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            last = min(end, next_month - dt.timedelta(days=1))
            title = day.strftime("%B %Y")
            if day.day != 1 or last != next_month - dt.timedelta(days=1):
                title += f" ({day.isoformat()} to {last.isoformat()})"
            label = day.strftime("%b") if day.month != 1 else day.strftime("%b %Y")
        found.append(Bucket(day, last, label, title))
        day = last + dt.timedelta(days=1)
    return grain, tuple(found)
