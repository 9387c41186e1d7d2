"""The usage chart as server-side SVG geometry.

Computed here, drawn by ``templates/usage/_chart.html``: no inline styles (CSP), colours from
CSS classes so dark mode themes it. Two layouts of the same data are drawn, a wide one and a
phone one (CSS shows the one that fits), so the text keeps a readable size on either. Bars
stack the metric's parts (``total`` view) or the models (``models``); the ``keys`` view draws
one line per compared key. Long ranges group days into weeks or months (chart_scale); the
data table behind the chart stays daily, for screen readers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from app.services.chart_scale import Bucket, buckets, nice_ticks, step_decimals, tick_label
from app.services.litellm import Metrics
from app.services.money import format_money

if TYPE_CHECKING:
    from app.services.usage import UsageReport

MAX_MODEL_SERIES = 5  # more models are summed as "Other models"
MAX_KEY_SERIES = 8
SERIES_CLASSES = 8  # series-1 … series-8 in portal.css


@dataclass(frozen=True)
class Layout:
    """A viewBox and its margins, in SVG user units (CSS px at scale 1)."""

    name: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    max_x_labels: int
    max_bar: float  # a bar is never wider than this, so "Today" is not one block
    char_width: float  # an estimate for the tooltip box: the wide font is 12 units, narrow 13


WIDE = Layout("wide", 720, 280, 60, 12, 26, 30, 10, 44, 6.8)
# 300 units across a phone's ~250-330 px: 13-unit text is 11 px or more from a 320 px screen up.
NARROW = Layout("narrow", 300, 300, 54, 8, 26, 30, 4, 28, 7.4)
LAYOUTS = (WIDE, NARROW)


@dataclass(frozen=True)
class Series:
    """One thing drawn: a part of the metric, a model or a key, with its CSS class."""

    label: str
    css: str
    daily: Mapping[dt.date, float]
    key_id: int | None = None  # the key a "keys" view series stands for


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    css: str


@dataclass(frozen=True)
class Tooltip:
    """A box next to its bar, shown on hover and keyboard focus."""

    x: float
    y: float
    width: float
    height: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Slot:
    """One bar's column: its hover/focus area, its rectangles or points, its tooltip."""

    x: float
    width: float
    center: float
    rects: tuple[Rect, ...]
    points: tuple[Point, ...]
    tooltip: Tooltip
    label: str  # the tooltip as one line, for assistive technology


@dataclass(frozen=True)
class Line:
    points: str  # the SVG polyline "x,y x,y …"
    css: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Marker:
    """A labelled vertical line on a day, e.g. when the key's secret was rotated."""

    x: float
    label: Text
    anchor: str  # text-anchor of the label: "end" on the right half, so it stays inside
    title: str = ""  # the whole label, when ``label`` had to be cut to fit


@dataclass(frozen=True)
class Drawing:
    """One layout of the chart, ready for the template."""

    layout: Layout
    plot_bottom: float
    plot_top: float
    ticks: tuple[Text, ...]  # y is the grid line's
    x_labels: tuple[Text, ...]
    slots: tuple[Slot, ...]
    lines: tuple[Line, ...]
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class Chart:
    """Everything the template needs: both layouts, the legend and the daily data table."""

    metric: str
    view: str
    title: str
    grain: str
    series: tuple[Series, ...]
    drawings: tuple[Drawing, ...]
    table: tuple[tuple[dt.date, tuple[str, ...], str], ...]  # day, values, total
    aria_label: str
    empty: bool
    views: tuple[tuple[str, str], ...] = ()  # (value, label) the view switch offers
    compared: tuple[int, ...] = ()  # key ids drawn in the "keys" view


VIEW_LABELS = {"total": "Total", "models": "By model", "keys": "Compare keys"}

# metric query value → (title, the field one value is, stacked parts for the total view, kind)
CHART_METRICS: dict[str, tuple[str, str, tuple[tuple[str, str, str], ...], str]] = {
    "spend": ("Spend (USD)", "spend", (("spend", "Spend", "series-1"),), "money"),
    "tokens": (
        "Tokens",
        "total_tokens",
        (
            ("prompt_tokens", "Prompt tokens", "series-1"),
            ("completion_tokens", "Completion tokens", "series-3"),
        ),
        "int",
    ),
    "requests": (
        "Requests",
        "api_requests",
        (
            ("successful_requests", "Successful", "series-2"),
            ("failed_requests", "Failed", "series-5"),
        ),
        "int",
    ),
}


def format_value(value: float, kind: str) -> str:
    """A value as the tooltips and the table write it: money or a whole count."""
    if kind == "money":
        return format_money(value)
    return f"{int(round(value)):,}"


def _field(name: str) -> Callable[[Metrics], float]:
    return lambda m: float(getattr(m, name))


def _per_day(days: Mapping[dt.date, Metrics], field: str) -> dict[dt.date, float]:
    return {day: float(getattr(m, field)) for day, m in days.items()}


def chart_series(
    report: UsageReport, metric: str, view: str, compare: Sequence[int] = ()
) -> tuple[Series, ...]:
    """What the chart draws for ``view``: the metric's parts, the top models (the rest summed
    as "Other models"), or the compared keys (default: the keys with the most of ``metric``)."""
    _, field, parts, _ = CHART_METRICS[metric]
    if view == "models" and report.model_daily:
        ranked = sorted(
            report.model_daily,
            key=lambda name: (-sum(_per_day(report.model_daily[name], field).values()), name),
        )
        shown = ranked[:MAX_MODEL_SERIES] if len(ranked) > MAX_MODEL_SERIES + 1 else ranked
        series = [
            Series(name, _css(i), _per_day(report.model_daily[name], field))
            for i, name in enumerate(shown)
        ]
        rest: dict[dt.date, float] = {}
        for name in ranked[len(shown) :]:
            for day, value in _per_day(report.model_daily[name], field).items():
                rest[day] = rest.get(day, 0.0) + value
        if rest:
            series.append(Series("Other models", _css(len(series)), rest))
        return tuple(series)
    if view == "keys" and report.keys:
        by_id = {k.id: k for k in report.keys}
        chosen = [i for i in compare if i in by_id][:MAX_KEY_SERIES]
        if not chosen:
            ranked = sorted(report.keys, key=lambda k: (-float(getattr(k.metrics, field)), k.id))
            chosen = [k.id for k in ranked[:MAX_KEY_SERIES]]
        return tuple(
            Series(by_id[i].label, _css(n), _per_day(report.key_daily.get(i, {}), field), i)
            for n, i in enumerate(chosen)
        )
    days = {row.date: row.metrics for row in report.daily}
    return tuple(Series(label, css, _per_day(days, name)) for name, label, css in parts)


def _css(index: int) -> str:
    return f"series-{index % SERIES_CLASSES + 1}"


def report_chart(
    report: UsageReport, metric: str, view: str = "total", compare: Sequence[int] = ()
) -> Chart:
    """The chart of a usage report: what the user page and the admin view both draw."""
    views = tuple(
        (value, label)
        for value, label in VIEW_LABELS.items()
        if value != "keys" or (report.key is None and report.keys)
    )
    if view not in dict(views):
        view = "total"  # e.g. one key's report has nothing to compare
    series = chart_series(report, metric, view, compare)
    markers = report.markers
    chart = build_chart(report.start, report.end, series, metric, view, markers)
    compared = tuple(s.key_id for s in series if s.key_id is not None)
    return replace(chart, views=views, compared=compared)


def build_chart(
    start: dt.date,
    end: dt.date,
    series: tuple[Series, ...],
    metric: str,
    view: str = "total",
    markers: Sequence = (),
) -> Chart:
    """Both layouts of ``series`` over ``start``..``end``. ``markers`` are objects with
    ``.day`` and ``.label``; those outside the range are left out."""
    title, _, _, kind = CHART_METRICS[metric]
    grain, bars = buckets(start, end)
    values = [tuple(_bucket_sum(s.daily, b) for s in series) for b in bars]
    stacked = view != "keys"
    peak = max((sum(v) if stacked else max(v, default=0.0) for v in values), default=0.0)
    ticks = nice_ticks(peak, whole=kind == "int")
    markers = tuple(m for m in markers if start <= m.day <= end)
    drawings = tuple(
        _draw(layout, bars, series, values, ticks, kind, stacked, markers) for layout in LAYOUTS
    )
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    table = tuple(
        (
            day,
            tuple(format_value(s.daily.get(day, 0.0), kind) for s in series),
            format_value(sum(s.daily.get(day, 0.0) for s in series), kind),
        )
        for day in days
    )
    totals = [sum(v) for v in values]
    summary = f"{title} per {grain} (UTC), {start.isoformat()} to {end.isoformat()}"
    if totals and any(totals):
        top = max(range(len(totals)), key=lambda i: totals[i])
        when = "on" if grain == "day" else "in"  # on 2026-12-02, in the week of …
        summary += (
            f": total {format_value(sum(totals), kind)}, highest"
            f" {format_value(totals[top], kind)} {when} {bars[top].title}"
        )
    for marker in markers:
        summary += f"; {marker.label} on {marker.day.isoformat()}"
    return Chart(
        metric=metric,
        view=view,
        title=title,
        grain=grain,
        series=series,
        drawings=drawings,
        table=table,
        aria_label=summary,
        empty=not any(totals),
    )


def _bucket_sum(daily: Mapping[dt.date, float], bucket: Bucket) -> float:
    return sum(v for day, v in daily.items() if day in bucket)


def _draw(
    layout: Layout,
    bars: tuple[Bucket, ...],
    series: tuple[Series, ...],
    values: list[tuple[float, ...]],
    ticks: tuple[float, ...],
    kind: str,
    stacked: bool,
    markers: tuple,
) -> Drawing:
    top_value = ticks[-1]
    plot_w = layout.width - layout.left - layout.right
    bottom = layout.height - layout.bottom
    plot_h = bottom - layout.top
    slot_w = plot_w / max(len(bars), 1)
    bar_w = max(min(slot_w * 0.7, layout.max_bar), 1.0)

    def y_of(value: float) -> float:
        return round(bottom - plot_h * value / top_value, 2)

    slots, columns = [], []
    for index, (bucket, parts) in enumerate(zip(bars, values, strict=True)):
        x0 = layout.left + index * slot_w
        center = x0 + slot_w / 2
        rects, points = [], []
        if stacked:
            y = float(bottom)
            for value, s in zip(parts, series, strict=True):
                h = plot_h * value / top_value
                if h > 0:
                    y -= h
                    rects.append(
                        Rect(round(center - bar_w / 2, 2), round(y, 2), round(bar_w, 2),
                             round(h, 2), s.css)
                    )  # fmt: skip
        else:
            points = [
                Point(round(center, 2), y_of(v), s.css) for v, s in zip(parts, series, strict=True)
            ]
        columns.append(points)
        lines = [bucket.title]
        lines += [f"{s.label}: {format_value(v, kind)}" for s, v in zip(series, parts, strict=True)]
        if stacked and len(series) > 1:
            lines.append(f"Total: {format_value(sum(parts), kind)}")
        lines += [m.label for m in markers if m.day in bucket]
        slots.append(
            Slot(
                x=round(x0, 2),
                width=round(slot_w, 2),
                center=round(center, 2),
                rects=tuple(rects),
                points=tuple(points),
                tooltip=_tooltip(layout, center, lines),
                label="; ".join(lines),
            )
        )
    polylines = ()
    if not stacked:
        polylines = tuple(
            Line(" ".join(f"{col[i].x},{col[i].y}" for col in columns), s.css)
            for i, s in enumerate(series)
        )
    decimals = step_decimals(ticks)
    every = max(1, -(-len(bars) // layout.max_x_labels))
    marks = []
    on_slot: dict[int, int] = {}
    for marker in markers:
        index = next(i for i, b in enumerate(bars) if marker.day in b)
        x = round(layout.left + index * slot_w + slot_w / 2, 2)
        anchor = "end" if x > layout.width / 2 else "start"
        label_x = x - 4 if anchor == "end" else x + 4
        # Each label on a line of its own (several on one day stack downwards) and cut to the
        # room it has, so none runs past the chart's edges; the whole label is its title.
        row = on_slot[index] = on_slot.get(index, -1) + 1
        room = (label_x - layout.left) if anchor == "end" else (layout.width - label_x)
        text = _fit(marker.label, room, layout.char_width)
        label = Text(label_x, layout.top - 10 + row * 14, text)
        marks.append(Marker(x, label, anchor, marker.label))
    return Drawing(
        layout=layout,
        plot_bottom=bottom,
        plot_top=layout.top,
        ticks=tuple(Text(layout.left - 6, y_of(t), tick_label(t, kind, decimals)) for t in ticks),
        x_labels=tuple(
            Text(round(layout.left + i * slot_w + slot_w / 2, 2), bottom + 18, b.label)
            for i, b in enumerate(bars)
            if i % every == 0
        ),
        slots=tuple(slots),
        lines=polylines,
        markers=tuple(marks),
    )


def _fit(text: str, room: float, char_width: float) -> str:
    """``text``, cut with an ellipsis to what ``room`` units hold at ``char_width`` each."""
    most = max(4, int(room / char_width))
    return text if len(text) <= most else text[: most - 1] + "…"


def _tooltip(layout: Layout, center: float, lines: list[str]) -> Tooltip:
    """Right of the bar when it fits, else left of it; at the top of the plot."""
    width = round(max(len(line) for line in lines) * layout.char_width + 16, 2)
    width = min(width, layout.width - 4)
    height = 16 * len(lines) + 10
    x = center + 8
    if x + width > layout.width - 2:
        x = max(2.0, center - 8 - width)
    return Tooltip(round(x, 2), layout.top, width, height, tuple(lines))
