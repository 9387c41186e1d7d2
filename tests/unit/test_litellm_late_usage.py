"""Usage that LiteLLM writes late: ranges that reach the last minutes are cached only briefly."""

from __future__ import annotations

import datetime as dt

from client_support import BASE

from app.config import Config
from app.services.litellm import covers_recent_usage

AGG = f"{BASE}/user/daily/activity/aggregated"
EMPTY = {"results": [], "metadata": {"has_more": False}}


def _lifetimes(client, start: dt.date, end: dt.date) -> dict[dt.date, dt.timedelta]:
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    held = client.usage_days.cache.read({}, days)
    assert set(held) == set(days)  # days without usage are held too
    return {d: h.fresh_until - h.fetched_at for d, h in held.items()}


def test_a_range_that_reaches_today_is_cached_for_seconds_not_minutes(client, rsps):
    rsps.get(AGG, json=EMPTY)
    today = dt.datetime.now(dt.UTC).date()
    client.daily_activity(today - dt.timedelta(days=6), today)
    lifetimes = _lifetimes(client, today - dt.timedelta(days=6), today)
    # LiteLLM writes usage 10-60 s late: an empty answer must not stand for a minute or more.
    assert lifetimes[today] <= dt.timedelta(seconds=16)
    # The settled days of the same answer are kept long.
    assert lifetimes[today - dt.timedelta(days=2)] == dt.timedelta(
        seconds=client.settings.usage_ttl
    )


def test_a_range_that_ended_days_ago_keeps_the_long_lifetime(client, rsps):
    rsps.get(AGG, json=EMPTY)
    today = dt.datetime.now(dt.UTC).date()
    start, end = today - dt.timedelta(days=9), today - dt.timedelta(days=2)
    client.daily_activity(start, end)
    long = dt.timedelta(seconds=client.settings.usage_ttl)
    assert long >= dt.timedelta(hours=1)
    assert set(_lifetimes(client, start, end).values()) == {long}


def test_yesterday_is_recent_during_the_first_minutes_of_a_utc_day():
    yesterday, today = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
    just_after_midnight = dt.datetime(2026, 12, 1, 0, 1, tzinfo=dt.UTC)
    later = dt.datetime(2026, 12, 1, 0, 5, tzinfo=dt.UTC)
    # A request at 23:59:50 is written into yesterday's bucket some seconds after midnight.
    assert covers_recent_usage(yesterday, just_after_midnight)
    assert not covers_recent_usage(yesterday, later)
    assert covers_recent_usage(today, later)
    assert not covers_recent_usage(dt.date(2026, 11, 29), just_after_midnight)


def test_the_default_today_lifetime_is_short(monkeypatch):
    monkeypatch.delenv("LITELLM_USAGE_TODAY_TTL", raising=False)
    assert Config().LITELLM_USAGE_TODAY_TTL <= 15
