"""UsageQuery: presets, defaults, validation (pure, no app needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.services.usage_query import InvalidUsageQuery, UsageQuery

TODAY = dt.date(2026, 3, 15)


def parse(**args) -> UsageQuery:
    return UsageQuery.parse(args, today=TODAY)


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("today", "2026-03-15", "2026-03-15"),
        ("yesterday", "2026-03-14", "2026-03-14"),
        ("ytd", "2026-01-01", "2026-03-15"),
        ("7d", "2026-03-09", "2026-03-15"),
        ("30d", "2026-02-14", "2026-03-15"),
        ("this_month", "2026-03-01", "2026-03-15"),
        ("last_month", "2026-02-01", "2026-02-28"),
    ],
)
def test_presets(preset, start, end):
    query = parse(preset=preset, start_date="2020-01-01", end_date="2020-01-02")
    assert (query.start.isoformat(), query.end.isoformat()) == (start, end)


def test_defaults_are_all_keys_last_7_days_spend():
    query = parse()
    assert (query.key_id, query.preset, query.metric, query.refresh) == (None, "7d", "spend", False)
    assert query.days == 7 and query.end == TODAY


def test_explicit_dates_mean_custom_and_round_trip_through_params():
    query = parse(key="12", start_date="2026-01-01", end_date="2026-01-31", metric="tokens")
    assert (query.key_id, query.preset, query.days) == (12, "custom", 31)
    assert query.params() == {
        "key": "12", "preset": "custom", "start_date": "2026-01-01",
        "end_date": "2026-01-31", "metric": "tokens",
    }  # fmt: skip
    assert UsageQuery.parse(query.params(), today=TODAY) == query
    assert "refresh" not in parse(refresh="1").params()
    assert parse(refresh="1").refresh is True


def test_a_full_366_day_range_is_allowed_but_not_367():
    assert parse(start_date="2025-03-15", end_date="2026-03-15").days == 366
    with pytest.raises(InvalidUsageQuery) as excinfo:
        parse(start_date="2025-03-14", end_date="2026-03-15")
    assert "end_date" in excinfo.value.errors


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"start_date": "2026-3-1", "end_date": "2026-03-02"}, "start_date"),
        ({"start_date": "2026-03-01", "end_date": "03/02/2026"}, "end_date"),
        ({"preset": "custom", "start_date": "2026-03-01"}, "end_date"),
        ({"start_date": "2026-03-16", "end_date": "2026-03-20"}, "start_date"),
        ({"start_date": "2026-03-10", "end_date": "2026-03-01"}, "end_date"),
        ({"key": "1.5"}, "key"),
        ({"key": "9" * 30}, "key"),
        ({"metric": "bogus"}, "metric"),
        ({"preset": "yesterday-ish"}, "preset"),
    ],
)
def test_invalid_queries_name_the_field(args, field):
    with pytest.raises(InvalidUsageQuery) as excinfo:
        parse(**args)
    assert field in excinfo.value.errors
    assert excinfo.value.raw["key"] == args.get("key", "")


def test_the_url_of_a_view_holds_only_what_defines_it():
    preset = parse(preset="30d", start_date="2026-01-01", end_date="2026-01-09", sort="-spend")
    assert preset.params() == {"key": "all", "preset": "30d"}  # no stale dates, default order
    custom = parse(preset="custom", start_date="2026-01-01", end_date="2026-01-09")
    assert custom.params() == {
        "key": "all", "preset": "custom", "start_date": "2026-01-01", "end_date": "2026-01-09",
    }  # fmt: skip
    compared = parse(view="keys", compare="3,1,3", sort="name", metric="tokens")
    assert compared.compare == (3, 1)
    assert compared.params() == {
        "key": "all", "preset": "7d", "metric": "tokens", "view": "keys", "compare": "3,1",
        "sort": "name",
    }  # fmt: skip


def test_the_previous_period_has_the_same_length_and_ends_the_day_before():
    query = parse(preset="custom", start_date="2026-03-01", end_date="2026-03-10")
    assert query.previous == (dt.date(2026, 2, 19), dt.date(2026, 2, 28))
    assert parse(preset="yesterday").previous == (dt.date(2026, 3, 13), dt.date(2026, 3, 13))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"view": "pie"}, "view"),
        ({"compare": "1,x"}, "compare"),
        ({"compare": ",".join(str(i) for i in range(1, 10))}, "compare"),
        ({"sort": "secret"}, "sort"),
    ],
)
def test_bad_view_compare_or_sort_is_refused(args, field):
    with pytest.raises(InvalidUsageQuery) as caught:
        parse(**args)
    assert field in caught.value.errors
