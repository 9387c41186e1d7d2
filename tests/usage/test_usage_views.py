"""The /usage page: full page vs htmx fragment, bad input, LiteLLM failures, refresh."""

from __future__ import annotations

import dataclasses
import re

import pytest
from usage_helpers import TODAY, day, expected

from app.services import litellm_client

AGG = "/user/daily/activity/aggregated"
HX = {"HX-Request": "true"}


@pytest.fixture
def alice(make_user, make_key, sim, sign_in):
    """Alice signed in with an active key (with usage today) and a revoked one."""
    user = make_user("alice@example.com")
    laptop = make_key(user, "laptop")
    old = make_key(user, "old-ci", revoked=True)
    sim.add_usage(token=laptop.token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=1200, completion_tokens=300, spend=1.25,
                  cache_read_input_tokens=256, cache_creation_input_tokens=64,
                  successful_requests=4, failed_requests=1)  # fmt: skip
    sim.add_usage(token=old.token, date=day(2), model="claude-sonnet", provider="anthropic",
                  prompt_tokens=100, completion_tokens=50, spend=0.5)  # fmt: skip
    sign_in(user.email)
    user.laptop, user.old = laptop, old
    return user


def _fragment_root(html: str) -> str:
    match = re.match(r"\s*<(\w+)[^>]*\bid=\"([^\"]+)\"", html)
    assert match, html[:200]
    return match.group(2)


def test_full_page_has_filters_results_and_numbers(client, alice):
    response = client.get("/usage")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert "HX-Request" in response.headers["Vary"]
    form = re.search(r"<form id=\"usage-filters\"[^>]*>", html).group(0)
    assert 'method="get"' in form and 'action="/usage"' in form and 'hx-get="/usage"' in form
    assert '<button type="submit"' in html  # works as a plain form with JS off
    assert 'hx-push-url="true"' in form and 'hx-target="#usage-region"' in form
    assert 'hx-indicator="#usage-loading"' in form
    assert f'<option value="{alice.old.id}" >old-ci (revoked)</option>' in html
    presets = ("Today", "Yesterday", "Last 7 days", "Last 30 days", "This month", "Last month")
    for preset in (*presets, "Year to date", "Custom"):
        assert f">{preset}</option>" in html
    results = html[html.index('id="usage-results"') :]
    assert "$1.75" in results  # spend of both keys (revoked included)
    assert "1,650" in results  # total tokens
    cache = re.sub(r"<[^>]+>", "", results[results.index('id="card-cache"') :][:400])
    assert "Cache read 256 · written 64" in cache  # says what each number counts
    assert "5 successful · 1 failed" in results
    assert "UTC days" in results and re.search(r"Data as of \d\d:\d\d UTC", results)
    assert 'id="usage-keys"' in results and "revoked</span>" in results
    assert 'role="img"' in results and 'id="usage-daily"' in results


def test_fragment_request_returns_only_the_results_region(client, alice):
    response = client.get(f"/usage?key={alice.laptop.id}&preset=30d", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'usage-filters" class' not in html
    assert _fragment_root(html) == "usage-results"
    assert html.strip().endswith("</section>") and html.count("<section") == 1
    assert "HX-Request" in response.headers["Vary"]
    assert "$1.25" in html and 'id="usage-keys"' not in html  # per-key table only for all
    assert f'data-start-date="{day(29).isoformat()}" data-end-date="{TODAY.isoformat()}"' in html


def test_history_restore_gets_the_whole_page(client, alice):
    headers = {**HX, "HX-History-Restore-Request": "true"}
    assert "<html" in client.get("/usage?preset=today", headers=headers).get_data(as_text=True)


def test_metric_switch_changes_the_chart_and_keeps_the_filters(client, alice):
    html = client.get(f"/usage?key={alice.laptop.id}&metric=requests", headers=HX).get_data(
        as_text=True
    )
    assert "Requests per day" in html
    assert re.search(r'<a href="[^"]*metric=requests[^"]*"[^>]*aria-current="true"', html, re.S)
    assert 'class="bar series-5"' in html  # failed requests are stacked in their own colour
    assert '<input type="hidden" name="metric" form="usage-filters" value="requests">' in html
    table = html[html.index('id="usage-daily"') :]
    table = table[: table.index("</table>")]
    assert table.count('<th scope="row">') == 7  # one row per UTC day of the default range
    assert f'<th scope="row">{TODAY.isoformat()}</th><td class="num">4</td>' in table


def test_key_deep_link_selects_that_key(client, alice):
    html = client.get(f"/usage?key={alice.old.id}").get_data(as_text=True)
    assert f'<option value="{alice.old.id}" selected>old-ci (revoked)</option>' in html
    assert "$0.50" in html


BAD = [
    (
        "start_date=2026-13-01&end_date=2026-12-31&preset=custom",
        "must be a date written YYYY-MM-DD",
    ),
    ("start_date=yesterday&preset=custom", "must be a date written YYYY-MM-DD"),
    (f"start_date={day(1)}&end_date={day(3)}", "End date is before the start date"),
    (f"start_date={day(400)}&end_date={TODAY}", "longer than 366 days"),
    (f"start_date={day(-2)}&end_date={day(-1)}", "Start date is in the future"),
    # "41 days, -81.2 % vs previous 41 days" for a range that ran 30 days into the future.
    (f"start_date={day(10)}&end_date={day(-30)}", "End date is in the future"),
    ("key=abc", "Key must be one of your keys"),
    ("key=-1", "Key must be one of your keys"),
    ("metric=cost", "Chart metric must be"),
    ("preset=forever", "Unknown period"),
]


@pytest.mark.parametrize(("query", "message"), BAD)
def test_bad_input_shows_a_clear_message(client, alice, sim, query, message):
    for headers in ({}, HX):
        response = client.get(f"/usage?{query}", headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert message in html and 'id="usage-invalid"' in html
        assert ("<html" in html) is (headers == {})
    assert sim.count(AGG) == 0


def test_another_users_key_is_a_404_like_a_missing_key(
    client, alice, make_user, make_key, page_text
):
    bob = make_user("bob@example.com")
    bobs = make_key(bob, "secret-project")
    for headers in ({}, HX):
        theirs = client.get(f"/usage?key={bobs.id}", headers=headers)
        missing = client.get("/usage?key=987654", headers=headers)
        assert theirs.status_code == missing.status_code == 404
        assert page_text(theirs) == page_text(missing)
        assert b"secret-project" not in theirs.get_data()


def test_unknown_alias_is_a_message_not_an_error_page(client, alice, make_key):
    ghost = make_key(alice, "ghost", store_token=False, in_litellm=False)
    response = client.get(f"/usage?key={ghost.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"LiteLLM has no key with alias “{ghost.alias}”" in html
    assert 'id="usage-unknown-alias"' in html


def _retune(client, **settings):
    client.http.settings = dataclasses.replace(client.http.settings, **settings)


def _break(kind: str, sim, app):
    if kind == "down":
        with app.app_context():
            _retune(litellm_client(), base_url="http://127.0.0.1:9")
    elif kind == "slow":
        sim.set_latency(600)
        with app.app_context():
            _retune(litellm_client(), connect_timeout=1.0, read_timeout=0.2)
    elif kind == "500":
        sim.set_fault(AGG, 500)
    else:
        sim.set_garbage(AGG, kind)


@pytest.mark.parametrize("kind", ["down", "slow", "500", "html", "truncated"])
def test_litellm_failure_shows_a_panel_inside_the_results(client, app, alice, sim, kind):
    _break(kind, sim, app)
    page = client.get("/usage")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    results = html[html.index('id="usage-results"') :]
    assert 'id="usage-api-error"' in results and 'role="alert"' in results
    assert re.search(r'<a class="button" href="/usage\?[^"]*"\s+hx-get="/usage\?', results)
    assert "Retry" in results and 'hx-target="#usage-region"' in results
    fragment = client.get("/usage", headers=HX)
    assert fragment.status_code == 502
    assert _fragment_root(fragment.get_data(as_text=True)) == "usage-results"
    assert "sk-sim-master" not in html


def test_stale_data_is_shown_with_a_banner(client, alice, sim):
    fresh = client.get("/usage").get_data(as_text=True)
    assert "LiteLLM unreachable" not in fresh
    sim.set_fault(AGG, 503)
    stale = client.get("/usage?refresh=1").get_data(as_text=True)
    assert re.search(r"LiteLLM unreachable, showing data from \d\d:\d\d", stale)
    assert "$1.75" in stale


def test_views_make_one_call_cold_and_none_warm(client, alice, sim):
    client.get("/usage")
    assert sim.count() == 1 and sim.count(AGG) == 1
    client.get("/usage", headers=HX)
    client.get("/usage?metric=tokens")  # same data, other chart: still cached
    assert sim.count() == 1


def test_refresh_bypasses_the_cache_and_is_rate_limited(client, app, alice, sim):
    app.config["RATE_LIMIT_USAGE_REFRESH"] = "1/minute"
    client.get("/usage")
    client.get("/usage?refresh=1", headers=HX)
    assert sim.count(AGG) == 2
    html = client.get("/usage?refresh=1", headers=HX).get_data(as_text=True)
    assert sim.count(AGG) == 2
    assert 'id="usage-notice"' in html and "cached data" in html and "$1.75" in html


def test_refresh_link_pushes_the_url_without_refresh(client, alice):
    html = client.get("/usage?preset=30d").get_data(as_text=True)
    link = re.search(r"<a href=\"([^\"]*refresh=1[^\"]*)\"[^>]*>", html, re.S).group(0)
    assert 'hx-push-url="/usage?key=all&amp;preset=30d"' in link


def test_views_never_mix_users(client, app, sim, make_user, make_key, sign_in):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    a, b = make_key(alice, "laptop"), make_key(bob, "laptop")
    for spend, key in ((1.0, a), (4.0, b)):
        sim.add_usage(token=key.token, date=TODAY, model="m", provider="p",
                      prompt_tokens=1, completion_tokens=1, spend=spend)  # fmt: skip
    sim.set_ignore_user_filter(True)
    sign_in(alice.email)
    card = '<div class="label">Spend</div><div class="value">{}</div>'
    assert card.format("$1.00") in client.get("/usage").get_data(as_text=True)
    other = app.test_client()
    sign_in(bob.email, other)
    html = other.get("/usage").get_data(as_text=True)
    assert card.format("$4.00") in html
    assert "$5.00</div>" not in html and "$1.00" not in html
    assert expected(sim, {b.token}, TODAY, TODAY)["spend"] == 4.0


def test_signed_out_users_are_sent_to_sign_in(client, app):
    response = client.get("/usage")
    assert response.status_code in (302, 303, 401)
    assert client.get("/usage/export.json").status_code in (302, 303, 401)


def test_error_responses_vary_on_hx_request(client, alice, monkeypatch):
    """Errors answer a page or a fragment on the same URL, so caches must key on HX-Request."""
    for path in ("/usage?key=999999", "/no/such/page"):
        page, fragment = client.get(path), client.get(path, headers=HX)
        assert page.status_code == fragment.status_code == 404, path
        assert "<html" in page.get_data(as_text=True)
        assert "<html" not in fragment.get_data(as_text=True)
        for response in (page, fragment):
            assert "HX-Request" in response.headers.get("Vary", ""), path

    import app.usage.routes as usage_routes

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(usage_routes, "usage_for_user", boom)
    for headers in ({}, HX):
        crashed = client.get("/usage", headers=headers)
        assert crashed.status_code == 500 and "Traceback" not in crashed.get_data(as_text=True)
        assert "HX-Request" in crashed.headers.get("Vary", "")


@pytest.mark.parametrize(
    "query",
    ["start_date=0001-01-01&end_date=0001-12-31", "start_date=1999-12-01&end_date=2000-01-02"],
)
def test_dates_past_the_calendars_ends_are_a_400_with_a_message(client, alice, query):
    response = client.get(f"/usage?preset=custom&{query}")
    assert response.status_code == 400
    assert "Dates must lie between 2000-01-01 and 2999-12-31." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    ["/usage?preset=custom&start_date=202026-01-01&end_date=2026-01-02", "/usage?key=999999"],
)
def test_refused_views_never_enter_the_history(client, alice, path):
    """htmx pushes the address of every answered swap; a refusal (400, 404) says not to, so
    Back and Forward only ever land on views that were shown."""
    refused = client.get(path, headers=HX)
    assert refused.status_code in (400, 404)
    assert refused.headers["HX-Push-Url"] == "false"
    shown = client.get("/usage?preset=7d", headers=HX)
    assert shown.status_code == 200 and shown.headers.get("HX-Push-Url") != "false"
