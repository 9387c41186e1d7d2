"""Any range on a proxy without the aggregated endpoint: windows within LITELLM_MAX_PAGES, days
split across pages merged again, pages dropped as soon as they are counted, and an honest panel
when a range needs more than the view may spend. Against the simulator over real HTTP."""

from __future__ import annotations

import dataclasses
import weakref

import pytest
from usage_helpers import TODAY, assert_metrics_equal, day, expected

from app.extensions import db
from app.models import ApiKey
from app.services import litellm_client
from app.services.litellm import usage_days as usage_days_module
from app.services.money import format_money
from app.services.usage import usage_for_key

PAGED = "/user/daily/activity"
AGG = "/user/daily/activity/aggregated"
ROWS_PER_DAY = 110  # 1,000-row pages end inside a day: days are split across pages


@pytest.fixture
def heavy_key(make_user, make_key, sim):
    """A key with 30 days x 110 rows (3,300 rows: 4 pages) on a proxy without /aggregated."""
    sim.set_aggregated_available(False)
    user = make_user("heavy@example.com")
    key = make_key(user, "batch")
    for offset in range(30):
        for i in range(ROWS_PER_DAY):
            sim.add_usage(token=key.token, date=day(offset), model=f"m{i % 3}",
                          provider="openai" if i % 2 else "anthropic", prompt_tokens=i + 1,
                          completion_tokens=i % 7, spend=0.001 * (i + 1),
                          failed_requests=i % 5 == 0)  # fmt: skip
    return key


def _bound_pages(app, max_pages: int, **more) -> None:
    with app.app_context():
        client = litellm_client()
        client.http.settings = dataclasses.replace(client.settings, max_pages=max_pages, **more)
        client.usage_days.aggregated_unavailable = True  # known from an earlier view


def _page_calls(sim) -> list[dict]:
    return [q for _m, p, q in sim.calls if p == PAGED]


def test_a_range_over_the_page_bound_is_split_into_windows_and_merged_exactly(app, sim, heavy_key):
    _bound_pages(app, 2)
    with app.app_context():
        report = usage_for_key(db.session.get(ApiKey, heavy_key.id), day(29), TODAY)

    calls = _page_calls(sim)
    # Page 1 of the whole range (4 pages > 2), then 3 windows of 10 days x 2 pages each.
    assert len(calls) == 1 + 3 * 2 and all(int(q["page"]) <= 2 for q in calls)
    windows = {(q["start_date"], q["end_date"]) for q in calls[1:]}
    assert windows == {
        (day(29).isoformat(), day(20).isoformat()),
        (day(19).isoformat(), day(10).isoformat()),
        (day(9).isoformat(), TODAY.isoformat()),
    }
    assert_metrics_equal(report.totals.to_dict(), expected(sim, {heavy_key.token}, day(29), TODAY))
    by_date = expected(sim, {heavy_key.token}, day(29), TODAY, by="date")
    for row in report.daily:  # every day whole, including those split across two pages
        assert_metrics_equal(row.metrics.to_dict(), by_date[row.date.isoformat()])
        assert row.metrics.successful_requests == ROWS_PER_DAY
    models = expected(sim, {heavy_key.token}, day(29), TODAY, by="model")
    assert {r.name for r in report.models} == set(models)
    for row in report.models:
        assert_metrics_equal(row.metrics.to_dict(), models[row.name])

    sim.reset_calls()
    with app.app_context():
        again = usage_for_key(db.session.get(ApiKey, heavy_key.id), day(20), day(3))
    assert sim.calls == [] and again.from_cache


def test_pages_are_counted_and_dropped_never_all_held(app, sim, heavy_key, monkeypatch):
    """At most one page per worker (4) plus the one being merged is alive at any time."""
    _bound_pages(app, 2, usage_fetch_concurrency=4)
    pages: list[weakref.ref] = []
    most = []
    real = usage_days_module.parse_rows_page

    def alive() -> int:
        return sum(1 for ref in pages if ref() is not None)

    def tracked(body):
        page = real(body)
        pages.append(weakref.ref(page))
        most.append(alive())
        return page

    monkeypatch.setattr(usage_days_module, "parse_rows_page", tracked)
    with app.app_context():
        report = usage_for_key(db.session.get(ApiKey, heavy_key.id), day(29), TODAY)
    assert len(most) == 7 and max(most) <= 4 + 1
    assert alive() == 0  # nothing kept once the view has its totals
    assert_metrics_equal(report.totals.to_dict(), expected(sim, {heavy_key.token}, day(29), TODAY))


def test_a_range_too_large_for_the_call_bound_shows_an_honest_panel(
    app, client, sim, heavy_key, sign_in
):
    # Page 1 says 4 pages: 5 windows of one page each, more than 4 calls allow.
    _bound_pages(app, 1, usage_max_calls=4)
    sign_in("heavy@example.com")
    page = client.get(f"/usage?key={heavy_key.id}&start_date={day(29)}&end_date={TODAY}")

    assert page.status_code == 200
    assert "This range is too large for LiteLLM to answer in time" in page.text
    assert "LITELLM_USAGE_MAX_CALLS" in page.text


def test_a_bound_reached_midway_keeps_the_days_fetched_and_a_retry_continues(app, sim, heavy_key):
    from app.services.litellm import LiteLLMTooLarge

    # Page 1 says 4 pages: 5 windows of one page each make 6 calls, one more than allowed.
    _bound_pages(app, 1, usage_max_calls=5)
    with app.app_context(), pytest.raises(LiteLLMTooLarge, match="days fetched so far are kept"):
        usage_for_key(db.session.get(ApiKey, heavy_key.id), day(29), TODAY)
    # The windows fetched before the bound stay held: a narrower view costs nothing...
    sim.reset_calls()
    with app.app_context():
        assert litellm_client().daily_activity(day(2), TODAY, api_key=heavy_key.token).from_cache
    assert sim.calls == []
    # ...and trying again continues where the first view stopped.
    with app.app_context():
        report = usage_for_key(db.session.get(ApiKey, heavy_key.id), day(29), TODAY)
    assert len(_page_calls(sim)) == 1  # the one window left
    assert_metrics_equal(report.totals.to_dict(), expected(sim, {heavy_key.token}, day(29), TODAY))


def test_a_range_whose_comparison_is_too_large_shows_without_deltas(
    app, client, sim, heavy_key, sign_in
):
    # The range alone fits in 6 calls; with the previous 30 days beside it, it does not.
    _bound_pages(app, 1, usage_max_calls=6)
    sign_in("heavy@example.com")
    page = client.get(f"/usage?key={heavy_key.id}&start_date={day(29)}&end_date={TODAY}")

    assert page.status_code == 200 and "too large" not in page.text
    assert "vs previous" not in page.text  # shown without its comparison, not refused
    spend = expected(sim, {heavy_key.token}, day(29), TODAY)["spend"]
    assert f'<div class="value">{format_money(spend)}</div>' in page.text


def test_one_day_over_the_page_bound_is_refused_not_followed(app, sim, heavy_key):
    _bound_pages(app, 1)
    from app.services.litellm import LiteLLMTooLarge

    for _ in range(1000):  # today alone now needs two pages
        sim.add_usage(token=heavy_key.token, date=TODAY, model="m0", provider="openai",
                      prompt_tokens=1, completion_tokens=1, spend=0.001)  # fmt: skip
    with app.app_context(), pytest.raises(LiteLLMTooLarge, match="alone has 2 pages"):
        litellm_client().daily_activity(TODAY, TODAY, api_key=heavy_key.token)
    assert len(_page_calls(sim)) == 1
