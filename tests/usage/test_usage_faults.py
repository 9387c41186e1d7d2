"""The usage page and exports while LiteLLM misbehaves, over real HTTP to the simulator.

Faults that end must not outlast themselves (nothing unreadable is cached, Retry asks again),
numbers no LiteLLM can mean are an error panel (never a 500 or NaN in a file), a hanging
LiteLLM costs a view one short timeout, and data that arrives late is not cached as final.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
import threading
import time

import pytest
from usage_helpers import TODAY, day

from app.services import litellm_client
from tests.day_cache_support import age_usage_days, expire_usage_days

AGG = "/user/daily/activity/aggregated"
HX = {"HX-Request": "true"}
PANEL = 'id="usage-api-error"'
SPEND = "$1.25"


@pytest.fixture
def alice(make_user, make_key, sim, sign_in):
    """Alice signed in with one key that has $1.25 of usage today."""
    user = make_user("alice@example.com")
    user.laptop = make_key(user, "laptop")
    sim.add_usage(token=user.laptop.token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=1200, completion_tokens=300, spend=1.25)  # fmt: skip
    sign_in(user.email)
    return user


def _configure(app, **settings) -> None:
    """Apply LiteLLM settings; the client is (re)built from them on its next use."""
    app.config.update(settings)
    with app.app_context():
        built = app.extensions.get("litellm")
        if built is not None:
            built.close()
        app.extensions["litellm"] = None


def _expire_cache(app) -> None:
    """Every cached LiteLLM answer past its lifetime, as after an outage longer than the TTL."""
    with app.app_context():
        expire_usage_days(litellm_client())


def _retry_url(page_html: str) -> str:
    panel = page_html[page_html.index(PANEL) :]
    href = re.search(r'<a class="button" href="([^"]+)"', panel).group(1)
    return html_lib.unescape(href)


def _break(kind: str, sim) -> None:
    if kind in ("html", "truncated"):
        sim.set_garbage(AGG, kind)
    elif kind == "shape":
        sim.set_fault(AGG, 200, body={"results": "not a list"}, times=1)
    else:
        bad = {"infinity": {"spend": float("inf")}, "nan": {"spend": float("nan")},
               "negative": {"prompt_tokens": -1200}}[kind]  # fmt: skip
        with sim.lock:
            sim.rows[0].update(bad)


def _heal(kind: str, sim) -> None:
    sim.clear_faults()
    with sim.lock:
        sim.rows[0].update(spend=1.25, prompt_tokens=1200)


KINDS = ["html", "truncated", "shape", "infinity", "nan", "negative"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_once_then_a_normal_answer_shows_data_on_retry(client, alice, sim, kind):
    url = f"/usage?key={alice.laptop.id}"
    _break(kind, sim)
    page = client.get(url)
    assert page.status_code == 200 and PANEL in page.text and SPEND not in page.text
    retry = _retry_url(page.text)
    _heal(kind, sim)

    again = client.get(retry, headers=HX)  # the panel's Retry button (htmx)

    assert again.status_code == 200
    assert PANEL not in again.text and SPEND in again.text
    assert client.get(url).text.count(SPEND) >= 1  # and the plain next view too


def test_refresh_now_answered_with_garbage_does_not_stick(client, alice, sim):
    url = f"/usage?key={alice.laptop.id}"
    assert SPEND in client.get(url).text
    sim.set_garbage(AGG, "html")
    refreshed = client.get(url + "&refresh=1")
    assert PANEL in refreshed.text
    sim.clear_faults()

    retried = client.get(_retry_url(refreshed.text))

    assert PANEL not in retried.text and SPEND in retried.text
    assert sim.count(AGG) == 3  # the HTML answer was not served from the cache


@pytest.mark.parametrize("kind", ["infinity", "nan", "negative"])
def test_impossible_numbers_are_a_panel_and_a_502_export_never_nan(client, alice, sim, kind):
    _break(kind, sim)
    page = client.get("/usage")
    assert page.status_code == 200 and PANEL in page.text
    assert "LiteLLM could not deliver usage data" in page.text
    assert client.get("/usage", headers=HX).status_code == 502
    for fmt in ("json", "csv"):
        export = client.get(f"/usage/export.{fmt}")
        assert export.status_code == 502 and export.mimetype == "application/json"
        body = json.loads(export.text, parse_constant=_refuse)  # strict JSON: no NaN/Infinity
        assert "LiteLLM" in body["error"]
    _heal(kind, sim)

    healed = json.loads(client.get("/usage/export.json").text, parse_constant=_refuse)

    assert healed["totals"]["spend"] == 1.25 and healed["totals"]["prompt_tokens"] == 1200


def _refuse(name: str):
    raise AssertionError(f"{name} in a JSON export")


# ------------------------------------------------------------------ a hanging LiteLLM


# LiteLLM takes 5 s; the view waits one read of 0.6 s (re-sending after the read timeout, as
# before, shows as a second call). The budget leaves room for a busy CI machine.
HANG_TIMEOUT, HANG_BUDGET = 0.6, 2.5


def test_a_hanging_litellm_gives_the_panel_within_the_budget(app, client, alice, sim):
    _configure(app, LITELLM_TIMEOUT=HANG_TIMEOUT)
    sim.set_latency(5000)
    started = time.perf_counter()
    page = client.get(f"/usage?key={alice.laptop.id}")
    elapsed = time.perf_counter() - started
    assert page.status_code == 200 and PANEL in page.text
    assert "LiteLLM is unreachable" in page.text
    assert elapsed < HANG_BUDGET and sim.count(AGG) == 1


def test_while_litellm_hangs_the_next_pages_answer_within_the_short_wait(app, client, alice, sim):
    _configure(app, LITELLM_TIMEOUT=1.5, LITELLM_TIMEOUT_WHILE_HANGING=0.2)
    sim.set_latency(5000)
    assert PANEL in client.get(f"/usage?key={alice.laptop.id}").text  # waited 1.5 s
    started = time.perf_counter()
    usage = client.get(f"/usage?key={alice.laptop.id}&preset=7d")
    keys = client.get("/keys")
    elapsed = time.perf_counter() - started
    assert PANEL in usage.text and "LiteLLM is unreachable" in keys.text
    assert elapsed < 1.4  # two short waits of 0.2 s, not two of 1.5 s
    sim.set_latency(0)
    assert SPEND in client.get(f"/usage?key={alice.laptop.id}").text  # back at once


def test_a_hanging_litellm_shows_stale_data_within_the_budget(app, client, alice, sim):
    _configure(app, LITELLM_TIMEOUT=HANG_TIMEOUT)
    url = f"/usage?key={alice.laptop.id}"
    assert SPEND in client.get(url).text
    _expire_cache(app)
    sim.set_latency(5000)
    started = time.perf_counter()
    page = client.get(url)
    elapsed = time.perf_counter() - started
    assert re.search(r"LiteLLM unreachable, showing data from \d\d:\d\d", page.text)
    assert SPEND in page.text and elapsed < HANG_BUDGET
    assert sim.count(AGG) == 2  # the first view, then one try for this one


def _hold_the_only_slot(app, alice) -> threading.Thread:
    """A background LiteLLM call that holds the one upstream slot (the simulator is slow)."""

    def call():
        with app.app_context():
            try:
                litellm_client().daily_activity(day(3), TODAY, api_key=alice.laptop.token)
            except Exception:
                pass

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    with app.app_context():
        bulkhead = litellm_client().http.bulkhead
    deadline = time.monotonic() + 5
    while bulkhead.in_use < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bulkhead.in_use == 1
    return thread


def test_a_view_over_the_bound_answers_at_once(app, client, alice, sim):
    _configure(app, LITELLM_MAX_CONCURRENCY=1, LITELLM_CONCURRENCY_WAIT=0.05)
    sim.set_latency(2000)
    thread = _hold_the_only_slot(app, alice)
    started = time.perf_counter()
    page = client.get(f"/usage?key={alice.laptop.id}")
    elapsed = time.perf_counter() - started
    thread.join(timeout=5)
    assert PANEL in page.text and "LiteLLM is busy" in page.text
    assert elapsed < 1.5  # not the 2 s the call in flight takes
    assert sim.count(AGG) == 1  # the refused view never reached LiteLLM


def test_healthz_stays_fast_while_litellm_hangs(app, client, alice, sim):
    _configure(app, LITELLM_MAX_CONCURRENCY=1, LITELLM_CONCURRENCY_WAIT=0.05)
    sim.set_latency(2000)
    before = sim.count()
    thread = _hold_the_only_slot(app, alice)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        timings.append(time.perf_counter() - started)
    thread.join(timeout=5)
    assert sorted(timings)[2] < 0.1 and max(timings) < 0.25  # slack for a busy CI machine
    assert sim.count() == before + 1  # only the background call: /healthz never asks LiteLLM


# ------------------------------------------------------------------ exports during an outage


def test_exports_during_an_outage_are_marked_stale(app, client, alice, sim):
    query = f"key={alice.laptop.id}&preset=7d"
    fresh = client.get(f"/usage/export.json?{query}")
    fresh_csv = client.get(f"/usage/export.csv?{query}")
    assert fresh.get_json()["stale"] is False
    for response in (fresh, fresh_csv):
        assert response.headers["X-Data-Stale"] == "false"
    _expire_cache(app)
    sim.set_fault(AGG, 503)

    stale = client.get(f"/usage/export.json?{query}")
    stale_csv = client.get(f"/usage/export.csv?{query}")

    body = stale.get_json()
    assert stale.status_code == stale_csv.status_code == 200
    assert body["stale"] is True
    as_of = dt.datetime.fromisoformat(body["as_of"])
    assert abs(as_of - dt.datetime.fromisoformat(fresh.get_json()["as_of"])).total_seconds() < 1
    assert body["totals"]["spend"] == 1.25
    for response in (stale, stale_csv):
        assert response.headers["X-Data-Stale"] == "true"
        assert response.headers["X-Data-As-Of"] == body["as_of"]
    assert stale_csv.text == fresh_csv.text  # the same rows, only marked by the headers


# ------------------------------------------------------------------ usage written late


def _age_cache(app, seconds: float) -> None:
    """Move every cached answer ``seconds`` into the past, as if that much time had gone by."""
    with app.app_context():
        age_usage_days(litellm_client(), seconds)


def test_usage_written_late_shows_up_seconds_later_with_the_defaults(app, client, alice, sim):
    url = f"/usage?key={alice.laptop.id}&preset=7d"
    assert SPEND in client.get(url).text
    # LiteLLM's batch writer catches up with a request made just before the view.
    sim.add_usage(token=alice.laptop.token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=2.0)  # fmt: skip
    assert SPEND in client.get(url).text  # cached, briefly
    _age_cache(app, 16)
    assert "$3.25" in client.get(url).text


def test_the_page_says_that_usage_arrives_late_when_the_range_reaches_now(client, alice):
    note = "LiteLLM records usage with a delay of up to a minute"
    today = client.get(f"/usage?key={alice.laptop.id}&preset=7d").text
    meta = today[today.index("Data as of") :]
    assert note in meta[:400]  # beside "Data as of"
    past = client.get(
        f"/usage?key={alice.laptop.id}&start_date={day(9)}&end_date={day(2)}&preset=custom"
    ).text
    assert "Data as of" in past and note not in past
