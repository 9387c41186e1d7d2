"""The usage day cache over real HTTP: overlapping ranges, today's short life, "Refresh now".

The cache lives where the answer cache does: a SQLite file on the SQLite pass of scripts/test,
Redis on the PostgreSQL pass (as production runs it). Call counts and the dates asked for are
the simulator's own log.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest
import redis
from usage_helpers import TODAY, assert_metrics_equal, day, expected

from app import create_app
from app.extensions import db
from app.services import litellm_client
from tests.day_cache_support import age_usage_days

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "production"))
from prod_support import allocate_redis_url, required_env  # noqa: E402

AGG = "/user/daily/activity/aggregated"

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


@pytest.fixture
def day_cache_url(tmp_path):
    """Redis on the PostgreSQL pass, a SQLite file otherwise."""
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        url = allocate_redis_url(required_env("TEST_REDIS_URL"))
        redis.Redis.from_url(url).flushdb()
        yield url
        redis.Redis.from_url(url).flushdb()
    else:
        yield f"sqlite:///{tmp_path}/http_cache.sqlite"


@pytest.fixture
def app(make_config, sim, tmp_path, day_cache_url):
    """The portal with its LiteLLM answers (and usage days) in that shared cache."""
    application = create_app(make_config(HTTP_CACHE_URL=day_cache_url))
    application.instance_path = str(tmp_path / "instance")
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        litellm_client().close()
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def alice(make_user, make_key, seed_usage, sign_in):
    user = make_user("alice@example.com")
    user.laptop = make_key(user, "laptop")
    seed_usage(user.laptop.token, days=range(0, 60))
    sign_in(user.email)
    return user


def _asked(sim) -> list[tuple[str, str]]:
    """The (start_date, end_date) of every usage call since the last reset, in order."""
    return [(q["start_date"], q["end_date"]) for _m, p, q in sim.calls if p == AGG]


def _export(client, key, start: dt.date, end: dt.date, *, refresh: bool = False) -> dict:
    url = f"/usage/export.json?key={key.id}&start_date={start}&end_date={end}"
    response = client.get(url)
    assert response.status_code == 200, response.text
    if refresh:  # the page's "Refresh now" (exports never bypass the cache)
        page = client.get(f"/usage?key={key.id}&start_date={start}&end_date={end}&refresh=1")
        assert page.status_code == 200
        response = client.get(url)
    return response.get_json()


def _held(app) -> int:
    with app.app_context():
        return age_usage_days(litellm_client(), 0)


def test_overlapping_ranges_ask_only_for_the_days_not_held(client, alice, sim):
    key = alice.laptop
    sim.reset_calls()
    ranges = [
        ((day(29), TODAY), [(day(29), TODAY)]),  # "last 30 days"
        ((day(6), TODAY), []),  # "last 7 days": every day held
        ((day(40), day(10)), [(day(40), day(30))]),  # only the missing run, in one call
        ((day(45), TODAY), [(day(45), day(41))]),
        ((day(45), day(2)), []),
    ]
    for (start, end), calls in ranges:
        before = len(sim.calls)
        body = _export(client, key, start, end)
        asked = _asked(sim)[before:] if len(sim.calls) > before else []
        assert asked == [(a.isoformat(), b.isoformat()) for a, b in calls], (start, end)
        assert_metrics_equal(body["totals"], expected(sim, {key.token}, start, end))
        assert len(body["daily"]) == (end - start).days + 1


def test_separate_missing_runs_cost_one_call_each(client, alice, sim):
    key = alice.laptop
    _export(client, key, day(20), day(10))
    sim.reset_calls()
    body = _export(client, key, day(30), TODAY)
    assert sorted(_asked(sim)) == sorted(
        [(day(30).isoformat(), day(21).isoformat()), (day(9).isoformat(), TODAY.isoformat())]
    )
    assert_metrics_equal(body["totals"], expected(sim, {key.token}, day(30), TODAY))


def test_today_is_held_briefly_and_past_days_long(app, client, alice, sim):
    key = alice.laptop
    first = _export(client, key, day(6), TODAY)
    sim.add_usage(token=key.token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=2.0)  # fmt: skip
    sim.reset_calls()
    assert _export(client, key, day(6), TODAY)["totals"] == first["totals"]  # held, briefly
    assert _asked(sim) == []

    with app.app_context():
        age_usage_days(litellm_client(), 16)  # past LITELLM_USAGE_TODAY_TTL, not a day
    later = _export(client, key, day(6), TODAY)

    (asked,) = _asked(sim)
    assert asked[1] == TODAY.isoformat() and asked[0] >= day(1).isoformat()
    assert later["totals"]["spend"] == pytest.approx(first["totals"]["spend"] + 2.0)
    assert_metrics_equal(later["totals"], expected(sim, {key.token}, day(6), TODAY))


def test_data_as_of_is_the_oldest_fetch_among_the_days_shown(app, client, alice, sim):
    key = alice.laptop
    _export(client, key, day(10), day(5))
    with app.app_context():
        age_usage_days(litellm_client(), 3600)  # fetched an hour ago; still fresh (settled)
    body = _export(client, key, day(10), TODAY)  # days 4..0 fetched now
    as_of = dt.datetime.fromisoformat(body["as_of"])
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert abs((as_of - an_hour_ago).total_seconds()) < 60
    assert body["stale"] is False


def test_refresh_now_replaces_the_days_of_the_range(app, client, alice, sim):
    key = alice.laptop
    before = _export(client, key, day(20), day(5))
    # LiteLLM corrects a past day (e.g. a late batch): the held day does not know yet.
    sim.add_usage(token=key.token, date=day(8), model="gpt-4o", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=3.0)  # fmt: skip
    sim.reset_calls()
    assert _export(client, key, day(20), day(5))["totals"] == before["totals"]
    assert _asked(sim) == []

    refreshed = _export(client, key, day(20), day(5), refresh=True)

    # One call for the days shown and the previous period the page compares them with.
    assert _asked(sim) == [(day(36).isoformat(), day(5).isoformat())]
    assert refreshed["totals"]["spend"] == pytest.approx(before["totals"]["spend"] + 3.0)
    sim.reset_calls()
    wider = _export(client, key, day(25), day(5))  # the refreshed days are held again
    # (and so are the comparison's days before them, which the refreshed page fetched)
    assert _asked(sim) == []
    assert_metrics_equal(wider["totals"], expected(sim, {key.token}, day(25), day(5)))


def test_two_instances_share_the_held_days(app, alice, sim, make_config, build_app, day_cache_url):
    key = alice.laptop
    with app.app_context():
        litellm_client().daily_activity(day(9), day(2), api_key=key.token)
    other = build_app(make_config(HTTP_CACHE_URL=day_cache_url))
    sim.reset_calls()
    with other.app_context():
        answer = litellm_client().daily_activity(day(9), day(2), api_key=key.token)
    assert _asked(sim) == [] and answer.from_cache and answer.pages == 0
    assert answer.totals.spend == pytest.approx(expected(sim, {key.token}, day(9), day(2))["spend"])
    assert _held(app) >= 8
