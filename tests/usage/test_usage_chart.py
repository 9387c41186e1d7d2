"""Server-side SVG chart: nice scales, bar widths, grouping of long ranges, tooltips, markers."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pytest

from app.services.chart import NARROW, WIDE, Series, build_chart, report_chart
from app.services.chart_scale import buckets, nice_ticks, step_decimals, tick_label
from app.services.litellm import Metrics
from app.services.usage import DayRow, UsageReport

D = dt.date(2026, 3, 2)  # a Monday


def _is_nice(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


@pytest.mark.parametrize("peak", [0.0042, 0.7, 1.66, 13.2455, 250, 375_000, 2_982_331])
def test_ticks_step_by_1_2_2_5_or_5_times_a_power_of_ten(peak):
    for whole in (False, True):
        ticks = nice_ticks(peak, whole=whole)
        steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:], strict=False)}
        assert len(steps) == 1 and _is_nice(steps.pop()), ticks
        assert ticks[0] == 0 and ticks[-1] >= peak and len(ticks) <= 6
        if whole:
            assert all(float(t).is_integer() for t in ticks), ticks


def test_tick_labels_have_the_precision_the_step_needs():
    def labels(peak, kind="money"):
        ticks = nice_ticks(peak, whole=kind == "int")
        return [tick_label(t, kind, step_decimals(ticks)) for t in ticks]

    assert labels(1.66) == ["$0.00", "$0.50", "$1.00", "$1.50", "$2.00"]
    assert labels(13.2) == ["$0", "$5", "$10", "$15"]
    assert labels(0.0042)[-1] == "$0.005"
    assert labels(375_000, "int") == ["0", "100k", "200k", "300k", "400k"]
    assert labels(2_982_331, "int")[-1] == "3M"
    assert labels(1, "int") == ["0", "1", "2", "3", "4"]  # never 0, 0.25, …


def test_a_single_day_is_one_narrow_bar_not_a_block():
    series = (Series("Spend", "series-1", {D: 2.0}),)
    chart = build_chart(D, D, series, "spend")
    for drawing in chart.drawings:
        (slot,) = drawing.slots
        (rect,) = slot.rects
        assert rect.width <= drawing.layout.max_bar < slot.width / 2
        assert rect.x + rect.width / 2 == pytest.approx(slot.center)


def test_long_ranges_are_grouped_by_week_or_month_and_the_table_stays_daily():
    assert buckets(D, D + dt.timedelta(days=44))[0] == "day"
    grain, weeks = buckets(D + dt.timedelta(days=2), D + dt.timedelta(days=89))
    assert grain == "week" and weeks[0].start.weekday() == 2 and weeks[0].end.weekday() == 6
    assert all(b.start.weekday() == 0 for b in weeks[1:])
    start, end = dt.date(2025, 1, 15), dt.date(2025, 12, 31)
    daily = {start + dt.timedelta(days=i): 1.0 for i in range((end - start).days + 1)}
    chart = build_chart(start, end, (Series("Spend", "series-1", daily),), "spend")
    assert chart.grain == "month" and len(chart.drawings[0].slots) == 12
    january = chart.drawings[0].slots[0]
    assert january.tooltip.lines[:2] == (
        "January 2025 (2025-01-15 to 2025-01-31)",
        "Spend: $17.00",
    )
    assert len(chart.table) == len(daily)  # the data table keeps every day


def test_tooltips_name_the_day_and_every_value_and_stay_inside_the_chart():
    parts = {
        "successful_requests": {D: 6.0, D + dt.timedelta(days=1): 1.0},
        "failed_requests": {D: 2.0},
    }
    series = tuple(Series(name, f"series-{i}", parts[name]) for i, name in enumerate(parts))
    chart = build_chart(D, D + dt.timedelta(days=6), series, "requests")
    for drawing in chart.drawings:
        tip = drawing.slots[0].tooltip
        assert tip.lines == (
            "2026-03-02 (UTC)",
            "successful_requests: 6",
            "failed_requests: 2",
            "Total: 8",
        )
        for slot in drawing.slots:
            assert 0 <= slot.tooltip.x and slot.tooltip.x + slot.tooltip.width <= WIDE.width
    assert NARROW.width < WIDE.width and NARROW.height >= WIDE.height


@dataclass(frozen=True)
class MarkedReport(UsageReport):
    """What the key-rotation work adds to a report: days to mark on the chart."""

    markers: tuple = ()


@dataclass(frozen=True)
class Marker:
    day: dt.date
    label: str


def _report(days: int, **extra) -> UsageReport:
    daily = tuple(
        DayRow(D + dt.timedelta(days=i), Metrics(spend=1.0 + i, api_requests=1))
        for i in range(days)
    )
    return MarkedReport(
        start=D, end=daily[-1].date, key=None, totals=Metrics.sum(r.metrics for r in daily),
        daily=daily, models=(), providers=(), keys=(), as_of=dt.datetime.now(dt.UTC), **extra,
    )  # fmt: skip


def test_markers_are_drawn_as_labelled_lines_on_their_day():
    rotated = D + dt.timedelta(days=3)
    report = _report(
        7, markers=(Marker(rotated, "Secret rotated"), Marker(D - dt.timedelta(days=9), "Before"))
    )
    chart = report_chart(report, "spend")
    for drawing in chart.drawings:
        (marker,) = drawing.markers  # the one outside the range is left out
        assert marker.label.text == "Secret rotated"
        assert marker.x == drawing.slots[3].center
        assert "Secret rotated" in drawing.slots[3].tooltip.lines
    assert "Secret rotated on 2026-03-05" in chart.aria_label
    assert report_chart(_report(7), "spend").drawings[0].markers == ()


def test_each_rotation_marker_has_its_own_label_inside_the_chart():
    from app.services.usage import ChartMarker

    long = "Rotated: " + ("quarterly-reporting-notebook-integration-pipeline-" + "x" * 64)[:64]
    start, end = D - dt.timedelta(days=6), D
    daily = {start + dt.timedelta(days=i): 1.0 for i in range(7)}
    markers = (ChartMarker(D - dt.timedelta(days=1), "Rotated: ci"),
               ChartMarker(D - dt.timedelta(days=1), long), ChartMarker(start, long))  # fmt: skip
    chart = build_chart(start, end, (Series("Spend", "series-1", daily),), "spend", "total",
                        markers)  # fmt: skip
    for drawing, layout in zip(chart.drawings, (WIDE, NARROW), strict=True):
        assert len(drawing.markers) == 3
        same_day = [m for m in drawing.markers if m.x == drawing.markers[0].x]
        assert len({m.label.y for m in same_day}) == len(same_day)  # stacked, not joined
        for m in drawing.markers:
            width = len(m.label.text) * layout.char_width
            if m.anchor == "end":
                assert m.label.x - width >= layout.left - 0.5, (layout.name, m.label)
            else:
                assert m.label.x + width <= layout.width + 0.5, (layout.name, m.label)
            assert m.title in ("Rotated: ci", long)
            assert m.label.text == m.title or m.label.text.endswith("…")
