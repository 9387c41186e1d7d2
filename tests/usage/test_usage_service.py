"""usage_for_key / usage_for_user against the simulator over real HTTP."""

from __future__ import annotations

import dataclasses

import pytest
from usage_helpers import TODAY, assert_metrics_equal, day, expected

from app.extensions import db
from app.models import ApiKey, User
from app.services import litellm_client
from app.services.usage import usage_for_key, usage_for_user

AGG = "/user/daily/activity/aggregated"
PAGED = "/user/daily/activity"
KEY_LIST = "/key/list"


def _user(user) -> User:
    return db.session.get(User, user.id)


def _key(key) -> ApiKey:
    return db.session.get(ApiKey, key.id)


RANGES = [(day(9), TODAY), (day(6), day(2)), (day(0), day(0)), (day(40), day(20))]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_key_totals_equal_the_simulators_rows(
    app, sim, make_user, make_key, seed_usage, start, end
):
    alice = make_user("alice@example.com")
    laptop, ci = make_key(alice, "laptop"), make_key(alice, "ci")
    seed_usage(laptop.token, days=range(0, 12))
    seed_usage(ci.token, days=range(0, 12))
    with app.app_context():
        for key in (laptop, ci):
            report = usage_for_key(_key(key), start, end)
            assert_metrics_equal(report.totals.to_dict(), expected(sim, {key.token}, start, end))
            by_date = expected(sim, {key.token}, start, end, by="date")
            assert [r.date for r in report.daily] == [
                start + (r.date - start) for r in report.daily
            ]
            assert len(report.daily) == (end - start).days + 1  # zero-filled, ascending
            assert report.daily[0].date == start and report.daily[-1].date == end
            for row in report.daily:
                wanted = by_date.get(row.date.isoformat())
                if wanted is None:
                    assert row.metrics.to_dict() == dict.fromkeys(row.metrics.to_dict(), 0)
                else:
                    assert_metrics_equal(row.metrics.to_dict(), wanted)
            models = expected(sim, {key.token}, start, end, by="model")
            assert {r.name for r in report.models} == set(models)
            for row in report.models:
                assert_metrics_equal(row.metrics.to_dict(), models[row.name])
            providers = expected(sim, {key.token}, start, end, by="custom_llm_provider")
            assert {r.name for r in report.providers} == set(providers)
            for row in report.providers:
                assert_metrics_equal(row.metrics.to_dict(), providers[row.name])


@pytest.mark.parametrize(("start", "end"), RANGES[:2])
def test_all_keys_totals_and_per_key_rows(app, sim, make_user, make_key, seed_usage, start, end):
    alice = make_user("alice@example.com")
    laptop = make_key(alice, "laptop")
    old = make_key(alice, "old", revoked=True)
    seed_usage(laptop.token)
    seed_usage(old.token, seed=2)
    tokens = {laptop.token, old.token}
    with app.app_context():
        report = usage_for_user(_user(alice), start, end)
    assert_metrics_equal(report.totals.to_dict(), expected(sim, tokens, start, end))
    rows = {r.label: r for r in report.keys}
    assert set(rows) == {"laptop", "old"}
    assert rows["old"].revoked is True and rows["laptop"].revoked is False
    for label, key in (("laptop", laptop), ("old", old)):
        assert_metrics_equal(rows[label].metrics.to_dict(), expected(sim, {key.token}, start, end))
    assert sim.count(AGG) == 1


def test_paginated_endpoint_with_a_day_split_across_pages(app, sim, make_user, make_key):
    """1 500 rows: page 1 holds 1 000 (newest day's 600 + 400 of the older day), so the older
    day arrives in two pieces that must be merged, not overwritten."""
    sim.set_aggregated_available(False)
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    for i in range(600):
        sim.add_usage(token=key.token, date=day(0), model="gpt-4o", provider="openai",
                      prompt_tokens=10 + i % 7, completion_tokens=3, spend=0.001)  # fmt: skip
    for i in range(900):
        sim.add_usage(token=key.token, date=day(1), model="claude-sonnet", provider="anthropic",
                      prompt_tokens=20, completion_tokens=1 + i % 5, spend=0.002,
                      failed_requests=i % 2)  # fmt: skip
    with app.app_context():
        report = usage_for_key(_key(key), day(1), day(0))
        user_report = usage_for_user(_user(alice), day(1), day(0))
    assert sim.count(PAGED) >= 4  # two pages per report: the split really happened
    for rep in (report, user_report):
        assert_metrics_equal(rep.totals.to_dict(), expected(sim, {key.token}, day(1), day(0)))
        by_date = expected(sim, {key.token}, day(1), day(0), by="date")
        assert_metrics_equal(rep.daily[0].metrics.to_dict(), by_date[day(1).isoformat()])
        assert rep.daily[0].metrics.api_requests == 900 + 450


def test_all_keys_never_counts_another_users_usage(app, sim, make_user, make_key, seed_usage):
    """A proxy that ignores user_id returns Bob's keys too; only Alice's tokens count."""
    sim.set_ignore_user_filter(True)
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    a, b = make_key(alice, "laptop"), make_key(bob, "laptop")
    seed_usage(a.token, seed=1)
    seed_usage(b.token, seed=9, per_day=5)
    with app.app_context():
        report = usage_for_user(_user(alice), day(9), TODAY)
    assert_metrics_equal(report.totals.to_dict(), expected(sim, {a.token}, day(9), TODAY))
    assert report.totals.spend < expected(sim, {a.token, b.token}, day(9), TODAY)["spend"]
    assert [k.label for k in report.keys] == ["laptop"]
    models = expected(sim, {a.token}, day(9), TODAY, by="model")
    for row in report.models:
        assert_metrics_equal(row.metrics.to_dict(), models[row.name])


def test_cut_key_lists_fall_back_to_the_rows_endpoint_not_to_per_key_calls(
    app, sim, make_user, make_key, seed_usage
):
    alice = make_user("alice@example.com")
    keys = [make_key(alice, f"k{i}") for i in range(3)]
    for i, key in enumerate(keys):
        seed_usage(key.token, seed=i)
    with app.app_context():
        client = litellm_client()
        # LiteLLM now returns only the top key per list
        client.http.settings = dataclasses.replace(client.settings, api_key_limit=1)
        report = usage_for_user(_user(alice), day(9), TODAY)
    # More tokens than api_key_limit: the rows endpoint at once, not one call per key.
    assert sim.count(AGG) == 0 and sim.count(PAGED) == 1
    tokens = {k.token for k in keys}
    assert_metrics_equal(report.totals.to_dict(), expected(sim, tokens, day(9), TODAY))
    for row, key in zip(report.keys, keys, strict=True):
        assert_metrics_equal(row.metrics.to_dict(), expected(sim, {key.token}, day(9), TODAY))


def test_call_counts_cold_warm_and_missing_token(app, sim, make_user, make_key, seed_usage):
    alice = make_user("alice@example.com")
    stored = make_key(alice, "stored")
    missing = make_key(alice, "missing", store_token=False)
    seed_usage(stored.token)
    seed_usage(missing.token, seed=3)
    with app.app_context():
        usage_for_key(_key(stored), day(6), TODAY)
        assert (sim.count(), sim.count(AGG)) == (1, 1)  # cold: exactly one call
        usage_for_key(_key(stored), day(6), TODAY)
        assert sim.count() == 1  # warm: none

        sim.reset_calls()
        report = usage_for_key(_key(missing), day(6), TODAY)
        assert sim.count(KEY_LIST) == 1
        assert _key(missing).litellm_token_id == missing.token  # written back
        assert_metrics_equal(report.totals.to_dict(), expected(sim, {missing.token}, day(6), TODAY))
        litellm_client().http.session.cache.clear()  # even with a cold cache: no second lookup
        usage_for_key(_key(missing), day(6), TODAY)
        usage_for_user(_user(alice), day(6), TODAY)
        assert sim.count(KEY_LIST) == 1


def test_all_keys_resolves_missing_tokens_with_one_sweep(app, sim, make_user, make_key, seed_usage):
    alice = make_user("alice@example.com")
    keys = [make_key(alice, f"k{i}", store_token=False) for i in range(3)]
    gone = make_key(alice, "gone", store_token=False, in_litellm=False, revoked=True)
    for i, key in enumerate(keys):
        seed_usage(key.token, seed=i)
    with app.app_context():
        report = usage_for_user(_user(alice), day(9), TODAY)
        assert sim.count(KEY_LIST) == 1
        assert all(_key(k).litellm_token_id == k.token for k in keys)
        assert _key(gone).litellm_token_id is None
    assert [k.label for k in report.unresolved_keys] == ["gone"]
    assert_metrics_equal(
        report.totals.to_dict(), expected(sim, {k.token for k in keys}, day(9), TODAY)
    )


def test_cached_responses_never_cross_keys_or_users(app, sim, make_user, make_key):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    a1, a2, b1 = make_key(alice, "one"), make_key(alice, "two"), make_key(bob, "one")
    for spend, key in ((1.0, a1), (2.0, a2), (4.0, b1)):
        sim.add_usage(token=key.token, date=TODAY, model="m", provider="p",
                      prompt_tokens=1, completion_tokens=1, spend=spend)  # fmt: skip
    with app.app_context():
        assert usage_for_key(_key(a1), TODAY, TODAY).totals.spend == 1.0
        assert usage_for_key(_key(a2), TODAY, TODAY).totals.spend == 2.0
        assert usage_for_key(_key(b1), TODAY, TODAY).totals.spend == 4.0
        assert usage_for_user(_user(alice), TODAY, TODAY).totals.spend == 3.0
        assert usage_for_user(_user(bob), TODAY, TODAY).totals.spend == 4.0
        # Again, now from the cache: the same answers.
        assert usage_for_key(_key(a1), TODAY, TODAY).totals.spend == 1.0
        assert usage_for_user(_user(bob), TODAY, TODAY).totals.spend == 4.0
        assert usage_for_user(_user(alice), TODAY, TODAY).totals.spend == 3.0
    assert sim.count(AGG) == 5


def test_stale_cache_is_served_and_marked_when_litellm_fails(app, sim, make_user, make_key):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    sim.add_usage(token=key.token, date=TODAY, model="m", provider="p",
                  prompt_tokens=1, completion_tokens=1, spend=0.5)  # fmt: skip
    with app.app_context():
        fresh = usage_for_key(_key(key), day(6), TODAY)
        sim.set_fault(AGG, 503)
        stale = usage_for_key(_key(key), day(6), TODAY, refresh=True)
    assert not fresh.stale and stale.stale
    assert stale.totals == fresh.totals
