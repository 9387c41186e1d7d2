"""Server-side SVG chart geometry."""

from __future__ import annotations

import datetime as dt

from app.services.chart import axis_label, daily_chart, nice_max
from app.services.litellm import Metrics

D = dt.date(2026, 3, 1)


def _days(*values):
    return [(D + dt.timedelta(days=i), m) for i, m in enumerate(values)]


def test_nice_max():
    assert [nice_max(v) for v in (0, 0.7, 1, 3, 7, 12, 2400)] == [1, 1, 1, 5, 10, 20, 2500]


def test_bars_scale_to_the_axis_and_stack():
    chart = daily_chart(
        _days(
            Metrics(successful_requests=6, failed_requests=2, api_requests=8),
            Metrics(),
            Metrics(successful_requests=4, api_requests=4),
        ),
        "requests",
    )
    assert [b.total for b in chart.bars] == [8, 0, 4]
    first, empty, last = chart.bars
    assert [s.css for s in first.segments] == ["series-2", "series-5"]
    assert empty.segments == ()
    plot_h = chart.plot_bottom - chart.ticks[-1].y
    # Axis max is 10: 8 requests fill 80 % of the plot height, stacked without gaps.
    assert round(sum(s.height for s in first.segments), 1) == round(plot_h * 0.8, 1)
    assert first.segments[1].y + first.segments[1].height == first.segments[0].y
    assert chart.ticks[-1].label == "10" and chart.ticks[0].label == "0"
    assert "highest 8 on 2026-03-01" in chart.aria_label and "UTC" in chart.aria_label
    assert not chart.empty


def test_empty_range_and_money_format():
    chart = daily_chart(_days(Metrics(), Metrics()), "spend")
    assert chart.empty and chart.ticks[-1].label == "$1.00"
    assert daily_chart(_days(Metrics(spend=250.0)), "spend").ticks[-1].label == "$250.00"


def _labels(chart):
    return [t.label for t in chart.ticks]


def test_money_axis_labels_suit_the_scale_while_table_and_tooltips_stay_precise():
    two = daily_chart(_days(Metrics(spend=1.2345), Metrics(spend=0.5)), "spend")
    assert _labels(two) == ["$0.00", "$0.50", "$1.00", "$1.50", "$2.00"]
    assert two.fmt(two.bars[0].total) == "$1.2345"  # the data table keeps 4 decimals
    assert "Spend $1.2345" in two.bars[0].title and "total $1.7345" in two.aria_label
    # Tiny ranges get just the decimals that keep each tick exact; $2.50 needs a third one.
    tiny = daily_chart(_days(Metrics(spend=0.0421)), "spend")
    assert _labels(tiny) == ["$0.0000", "$0.0125", "$0.0250", "$0.0375", "$0.0500"]
    assert _labels(daily_chart(_days(Metrics(spend=0.3)), "spend"))[1:3] == ["$0.125", "$0.250"]
    assert _labels(daily_chart(_days(Metrics(spend=2.2)), "spend"))[1] == "$0.625"
    assert _labels(daily_chart(_days(Metrics(spend=0.00008)), "spend"))[1] == "$0.000025"
    big = daily_chart(_days(Metrics(spend=1800.0)), "spend")
    assert _labels(big) == ["$0", "$500", "$1,000", "$1,500", "$2,000"]
    assert big.fmt(1800.0) == "$1,800.00"
    assert axis_label(1250.0, 5000.0, "int") == "1,250"  # counts are unchanged


def test_small_count_axes_have_distinct_whole_ticks():
    for days in (_days(Metrics()), _days(Metrics(successful_requests=1, api_requests=1))):
        assert _labels(daily_chart(days, "requests")) == ["0", "1", "2", "3", "4"]


def test_long_ranges_thin_out_the_x_labels():
    chart = daily_chart(_days(*[Metrics(total_tokens=1)] * 90), "tokens")
    assert len(chart.bars) == 90 and len(chart.x_labels) <= 10
