"""Daily usage charts as server-side SVG geometry.

The chart is computed here and drawn by ``templates/usage/_chart.html``: no JavaScript, no
inline styles (CSP), colours from CSS classes so dark mode themes it. Each bar may be stacked
from several series (e.g. successful + failed requests). The same numbers go into a table
behind the chart for screen readers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.services.litellm import Metrics

if TYPE_CHECKING:
    from app.services.usage import UsageReport

WIDTH = 720
HEIGHT = 260
PAD_LEFT = 64
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 36


@dataclass(frozen=True)
class Series:
    """One stacked component of a bar: a metric field, its label and its CSS class."""

    field: str
    label: str
    css: str


# metric query value → (title, stacked series, value format)
CHART_METRICS: dict[str, tuple[str, tuple[Series, ...], str]] = {
    "spend": ("Spend (USD)", (Series("spend", "Spend", "series-1"),), "money"),
    "tokens": (
        "Tokens",
        (
            Series("prompt_tokens", "Prompt tokens", "series-1"),
            Series("completion_tokens", "Completion tokens", "series-3"),
        ),
        "int",
    ),
    "requests": (
        "Requests",
        (
            Series("successful_requests", "Successful", "series-2"),
            Series("failed_requests", "Failed", "series-5"),
        ),
        "int",
    ),
}


@dataclass(frozen=True)
class Segment:
    """One stacked rectangle of a bar, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    css: str


@dataclass(frozen=True)
class Bar:
    """One UTC day: its series values, total, rectangles and tooltip."""

    date: dt.date
    values: tuple[float, ...]
    total: float
    segments: tuple[Segment, ...]
    title: str  # tooltip text (SVG <title>)


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value label."""

    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    """A date label under the bars (thinned out for long ranges)."""

    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw the chart and its data table."""

    metric: str
    title: str
    series: tuple[Series, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    x_labels: tuple[XLabel, ...]
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    aria_label: str
    empty: bool

    def fmt(self, value: float) -> str:
        """Format a value the way this chart's axis does."""
        return format_value(value, CHART_METRICS[self.metric][2])


def format_value(value: float, kind: str) -> str:
    """``money`` → $1,234.5678 (spend is small per request), ``int`` → 1,234."""
    if kind == "money":
        return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"
    return f"{int(round(value)):,}"


def axis_label(value: float, top: float, kind: str) -> str:
    """A y-axis label with the precision the axis scale needs, not the table's.

    The 4-decimal table format would print "$2.0000" on every tick. Money axes below $1 000 get
    2 decimals ($0.50, $1.00), more only when the tick step needs them to be exact ($0.625 on a
    $2.50 axis, $0.0125 on a $0.05 one; at most 8); from $1 000 whole dollars, which the ticks
    are then, and which fit the left margin.
    """
    if kind != "money":
        return format_value(value, kind)
    step = top / 4
    if top >= 1000:
        decimals = 0
    else:
        decimals = next(
            (d for d in range(2, 9) if math.isclose(round(step, d), step, rel_tol=1e-9)), 8
        )
    return f"${value:,.{decimals}f}"


def nice_max(value: float) -> float:
    """A round axis maximum ≥ value (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def report_chart(report: UsageReport, metric: str) -> Chart:
    """The daily chart of a usage report: what the user page and the admin view both draw."""
    return daily_chart([(day.date, day.metrics) for day in report.daily], metric)


def daily_chart(days: Sequence[tuple[dt.date, Metrics]], metric: str) -> Chart:
    """Stacked daily bars for ``metric`` (``spend``, ``tokens`` or ``requests``)."""
    title, series, kind = CHART_METRICS[metric]
    values = [tuple(float(getattr(m, s.field)) for s in series) for _, m in days]
    totals = [sum(v) for v in values]
    top = nice_max(max(totals, default=0.0))
    if kind == "int":
        top = max(top, 4.0)  # whole ticks 0..4: a 1-request axis would read 0, 0, 0, 1, 1
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    bottom = PAD_TOP + plot_h
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)

    bars = []
    for index, ((day, _), parts, total) in enumerate(zip(days, values, totals, strict=True)):
        x = PAD_LEFT + index * slot + (slot - bar_w) / 2
        y = float(bottom)
        segments = []
        for value, s in zip(parts, series, strict=True):
            h = plot_h * value / top
            if h > 0:
                y -= h
                segments.append(
                    Segment(round(x, 2), round(y, 2), round(bar_w, 2), round(h, 2), s.css)
                )
        detail = ", ".join(
            f"{s.label} {format_value(v, kind)}" for s, v in zip(series, parts, strict=True)
        )
        bars.append(Bar(day, parts, total, tuple(segments), f"{day.isoformat()} UTC: {detail}"))

    ticks = tuple(
        Tick(round(bottom - plot_h * i / 4, 2), axis_label(top * i / 4, top, kind))
        for i in range(5)
    )
    every = max(1, math.ceil(len(days) / 10))
    x_labels = tuple(
        XLabel(round(PAD_LEFT + i * slot + slot / 2, 2), day.strftime("%b %d"))
        for i, (day, _) in enumerate(days)
        if i % every == 0
    )
    first, last = (days[0][0], days[-1][0]) if days else (None, None)
    peak = max(range(len(totals)), key=lambda i: totals[i]) if days else None
    summary = f"{title} per UTC day"
    if first is not None and peak is not None:
        summary += (
            f", {first.isoformat()} to {last.isoformat()}: total {format_value(sum(totals), kind)}"
            f", highest {format_value(totals[peak], kind)} on {days[peak][0].isoformat()}"
        )
    return Chart(
        metric=metric,
        title=title,
        series=series,
        bars=tuple(bars),
        ticks=ticks,
        x_labels=x_labels,
        width=WIDTH,
        height=HEIGHT,
        plot_left=PAD_LEFT,
        plot_right=WIDTH - PAD_RIGHT,
        plot_bottom=bottom,
        aria_label=summary,
        empty=not any(totals),
    )
