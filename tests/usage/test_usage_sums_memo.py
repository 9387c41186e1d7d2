"""Report sums memoised by the held days they come from, over real HTTP to the simulator.

A warm view of the same range adds nothing up (the same report as the first view); a view whose
last day was fetched again adds up only that day on top of the settled days' sums; "Refresh
now" fetches every day again and so sums afresh. Counted with a spy on the one place a day is
added to a report.
"""

from __future__ import annotations

import pytest
from usage_helpers import TODAY, assert_metrics_equal, day, expected

from app.extensions import db
from app.models import User
from app.services import usage as usage_module
from app.services.usage import usage_for_user


@pytest.fixture
def added(monkeypatch):
    """The dates of every day added to a report (UsageAccumulator._add_day)."""
    dates = []
    real = usage_module.UsageAccumulator._add_day

    def spy(self, day_activity, tokens):
        dates.append(day_activity.date)
        return real(self, day_activity, tokens)

    monkeypatch.setattr(usage_module.UsageAccumulator, "_add_day", spy)
    return dates


@pytest.fixture
def alice(make_user, make_key, seed_usage):
    user = make_user("alice@example.com")
    keys = [make_key(user, name) for name in ("laptop", "ci")]
    for n, key in enumerate(keys):
        seed_usage(key.token, days=range(0, 30), seed=n)
    user.tokens = {k.token for k in keys}
    return user


def _report(app, user, start, end, **options):
    with app.app_context():
        return usage_for_user(db.session.get(User, user.id), start, end, **options)


def _same(a, b) -> None:
    assert (a.totals, a.daily, a.models, a.providers) == (b.totals, b.daily, b.models, b.providers)
    assert [k.metrics for k in a.keys] == [k.metrics for k in b.keys]
    assert a.key_daily == b.key_daily and a.model_daily == b.model_daily


def test_a_warm_view_of_settled_days_adds_nothing_up(app, alice, sim, added):
    first = _report(app, alice, day(20), day(2))
    assert len(added) == 19
    added.clear()

    again = _report(app, alice, day(20), day(2))

    assert added == [] and again.from_cache
    _same(again, first)
    assert_metrics_equal(again.totals.to_dict(), expected(sim, alice.tokens, day(20), day(2)))


def test_a_refetched_last_day_is_added_on_top_of_the_settled_days(app, alice, sim, added):
    _report(app, alice, day(20), TODAY)
    sim.add_usage(token=sorted(alice.tokens)[0], date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=2.0)  # fmt: skip
    _report(app, alice, TODAY, TODAY, refresh=True)  # today fetched again, nothing else
    added.clear()

    later = _report(app, alice, day(20), TODAY)

    assert added == [TODAY]  # the 20 settled days came from the memo
    assert_metrics_equal(later.totals.to_dict(), expected(sim, alice.tokens, day(20), TODAY))


def test_refresh_now_sums_the_range_again(app, alice, sim, added):
    before = _report(app, alice, day(20), day(5))
    # LiteLLM corrects a past day: the held day, and the memo, do not know yet.
    sim.add_usage(token=sorted(alice.tokens)[0], date=day(8), model="gpt-4o",
                  provider="openai", prompt_tokens=10, completion_tokens=5, spend=3.0)  # fmt: skip
    assert _report(app, alice, day(20), day(5)).totals == before.totals
    added.clear()

    refreshed = _report(app, alice, day(20), day(5), refresh=True)

    assert len(added) == 16
    assert refreshed.totals.spend == pytest.approx(before.totals.spend + 3.0)
    assert_metrics_equal(refreshed.totals.to_dict(), expected(sim, alice.tokens, day(20), day(5)))


def test_other_tokens_never_share_sums(app, alice, make_user, make_key, seed_usage, sim, added):
    bob = make_user("bob@example.com")
    bob_key = make_key(bob, "laptop")
    seed_usage(bob_key.token, days=range(0, 30), seed=7)
    mine = _report(app, alice, day(20), day(2))
    added.clear()

    his = _report(app, bob, day(20), day(2))

    assert len(added) == 19 and his.totals != mine.totals
    assert_metrics_equal(his.totals.to_dict(), expected(sim, {bob_key.token}, day(20), day(2)))


def test_many_users_keep_their_sums_while_others_view(app, make_user, make_key, seed_usage, added):
    people = []
    for n in range(40):  # more users than an organisation-sized memo entry leaves room for
        user = make_user(f"user{n}@example.com")
        seed_usage(make_key(user, "laptop").token, days=range(2, 12), per_day=1, seed=n)
        people.append(user)
    for user in people:
        _report(app, user, day(11), day(2))
    added.clear()

    for user in people:  # each user's second view, after all the others' first
        _report(app, user, day(11), day(2))

    assert added == []
