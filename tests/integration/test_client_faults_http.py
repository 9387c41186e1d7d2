"""LiteLLMClient against a misbehaving simulator over real HTTP: answers it cannot read, a hanging
LiteLLM, and the bulkhead that bounds the calls in flight.

The simulator is a threaded server, so concurrent calls really overlap and a latency fault
really holds a connection open.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from app.services.litellm import (
    LiteLLMBadResponse,
    LiteLLMClient,
    LiteLLMSettings,
    LiteLLMUnavailable,
)
from tests.day_cache_support import expire_usage_days

MASTER_KEY = "sk-sim-master-0123456789"
DAY = dt.date(2026, 11, 25)
AGG = "/user/daily/activity/aggregated"


def _client(sim_server, **settings) -> LiteLLMClient:
    settings.setdefault("backoff_factor", 0)
    return LiteLLMClient(LiteLLMSettings(sim_server.base_url, MASTER_KEY, **settings))


@pytest.fixture
def litellm(sim_server, sim):
    client = _client(sim_server)
    yield client
    client.close()


@pytest.fixture
def alice_token(sim):
    token = sim.add_key(key_alias="alice--laptop", user_id="alice")["token"]
    sim.add_usage(token=token, date=DAY, model="gpt-4o", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=0.25)  # fmt: skip
    return token


def _expire_all(client: LiteLLMClient) -> None:
    expire_usage_days(client)


# ------------------------------------------------------------------ answers that cannot be read


@pytest.mark.parametrize("kind", ["html", "truncated"])
def test_a_garbage_200_is_not_cached_so_the_next_call_gets_the_real_answer(
    litellm, sim, alice_token, kind
):
    sim.set_garbage(AGG, kind)
    with pytest.raises(LiteLLMBadResponse):
        litellm.daily_activity(DAY, DAY, api_key=alice_token)
    assert len(litellm.http.session.cache.responses) == 0
    sim.clear_faults()  # the fault is over

    answer = litellm.daily_activity(DAY, DAY, api_key=alice_token)

    assert answer.totals.spend == 0.25 and not answer.from_cache
    assert sim.count(path=AGG) == 2


def test_a_wrong_shape_once_is_forgotten(litellm, sim, alice_token):
    sim.set_fault(AGG, 200, body={"results": "not a list"}, times=1)
    with pytest.raises(LiteLLMBadResponse, match="'results' list"):
        litellm.daily_activity(DAY, DAY, api_key=alice_token)
    assert litellm.daily_activity(DAY, DAY, api_key=alice_token).totals.spend == 0.25
    assert litellm.stats.bad_entries_dropped == 1


def test_a_forced_refresh_answered_with_garbage_leaves_no_garbage_behind(litellm, sim, alice_token):
    assert litellm.daily_activity(DAY, DAY, api_key=alice_token).totals.spend == 0.25
    sim.set_garbage(AGG, "html")
    with pytest.raises(LiteLLMBadResponse):
        litellm.daily_activity(DAY, DAY, api_key=alice_token, force_refresh=True)
    sim.clear_faults()

    again = litellm.daily_activity(DAY, DAY, api_key=alice_token)

    assert again.totals.spend == 0.25
    assert sim.count(path=AGG) == 3  # the HTML answer was not kept to be served from the cache


@pytest.mark.parametrize(
    "bad", [{"spend": float("inf")}, {"spend": float("nan")}, {"prompt_tokens": -5}]
)
def test_non_finite_or_negative_numbers_are_a_bad_response_and_not_cached(
    litellm, sim, alice_token, bad
):
    row = dict(sim.rows[0])
    with sim.lock:
        sim.rows[0].update(bad)
    with pytest.raises(LiteLLMBadResponse, match="finite|negative"):
        litellm.daily_activity(DAY, DAY, api_key=alice_token)
    with sim.lock:
        sim.rows[0].update(row)

    assert litellm.daily_activity(DAY, DAY, api_key=alice_token).totals.spend == 0.25


# ------------------------------------------------------------------ hanging LiteLLM, bulkhead


def test_a_hanging_litellm_costs_one_short_read_timeout(sim_server, sim, alice_token):
    client = _client(sim_server, read_timeout=0.4)
    sim.set_latency(3000)
    try:
        started = time.perf_counter()
        with pytest.raises(LiteLLMUnavailable, match="did not answer in time"):
            client.daily_activity(DAY, DAY, api_key=alice_token)
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    # One wait of 0.4 s, not a second try (which the simulator would count), nor the 3 s.
    assert 0.35 < elapsed < 2
    assert sim.count(path=AGG) == 1


def test_after_one_timeout_views_wait_briefly_until_litellm_answers_again(
    sim_server, sim, alice_token
):
    client = _client(sim_server, read_timeout=1.5, read_timeout_while_hanging=0.2)
    sim.set_latency(4000)
    try:
        with pytest.raises(LiteLLMUnavailable, match="did not answer in time"):
            client.daily_activity(DAY, DAY, api_key=alice_token)  # waits 1.5 s
        started = time.perf_counter()
        with pytest.raises(LiteLLMUnavailable, match="did not answer in time"):
            client.daily_activity(DAY - dt.timedelta(days=1), DAY, api_key=alice_token)
        brief = time.perf_counter() - started
        sim.set_latency(0)
        answered = client.daily_activity(DAY, DAY, api_key=alice_token)  # within 0.2 s
        after = client.http.hang_guard.suspected
    finally:
        client.close()
    assert brief < 1.0  # 0.2 s, not the 1.5 s the first call waited
    assert answered.totals.spend == 0.25 and after is False


def test_a_hanging_litellm_falls_back_to_stale_data_within_the_budget(sim_server, sim, alice_token):
    client = _client(sim_server, read_timeout=0.4)
    try:
        fresh = client.daily_activity(DAY, DAY, api_key=alice_token)
        _expire_all(client)
        sim.set_latency(3000)
        started = time.perf_counter()
        stale = client.daily_activity(DAY, DAY, api_key=alice_token)
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    assert stale.stale and stale.totals.spend == fresh.totals.spend == 0.25
    assert elapsed < 2 and sim.count(path=AGG) == 2


def _in_flight(client: LiteLLMClient, count: int, token: str) -> list[threading.Thread]:
    """Start ``count`` calls that reach the (slow) simulator and wait until they hold a slot."""
    threads = [
        threading.Thread(
            target=lambda d=d: _swallow(
                lambda: client.daily_activity(DAY - dt.timedelta(days=d), DAY, api_key=token)
            ),
            daemon=True,
        )
        for d in range(1, count + 1)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while client.http.bulkhead.in_use < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.http.bulkhead.in_use == count
    return threads


def _swallow(call) -> None:
    try:
        call()
    except LiteLLMUnavailable:
        pass


def test_the_call_over_the_bound_fails_fast_instead_of_waiting(sim_server, sim, alice_token):
    client = _client(sim_server, max_concurrency=2, concurrency_wait=0.1, read_timeout=5)
    sim.set_latency(2500)
    try:
        threads = _in_flight(client, 2, alice_token)
        started = time.perf_counter()
        with pytest.raises(LiteLLMUnavailable, match="LiteLLM is busy"):
            client.daily_activity(DAY, DAY, api_key=alice_token)
        elapsed = time.perf_counter() - started
        for thread in threads:
            thread.join(timeout=5)
    finally:
        client.close()
    assert elapsed < 1.5  # 0.1 s wait for a slot, not the 2.5 s the others take
    assert client.http.bulkhead.rejected == 1
    assert sim.count(path=AGG) == 2  # the refused call never reached LiteLLM


def test_views_filling_every_slot_never_refuse_a_key_creation(sim_server, sim, alice_token):
    client = _client(sim_server, max_concurrency=2, concurrency_wait=0.1, read_timeout=5)
    sim.set_latency(1500)
    try:
        threads = _in_flight(client, 2, alice_token)
        generated = client.generate_key(key_alias="alice--made-while-busy", user_id="alice")
        for thread in threads:
            thread.join(timeout=5)
    finally:
        client.close()
    assert generated.token_id == sim.find_by_alias("alice--made-while-busy")[0]["token"]
    assert client.http.bulkhead.rejected == 0 and client.http.write_bulkhead.rejected == 0


def test_cached_answers_do_not_wait_for_a_slot(sim_server, sim, alice_token):
    client = _client(sim_server, max_concurrency=1, concurrency_wait=0.05)
    try:
        client.daily_activity(DAY, DAY, api_key=alice_token)  # cached now
        sim.set_latency(2500)
        threads = _in_flight(client, 1, alice_token)
        started = time.perf_counter()
        cached = client.daily_activity(DAY, DAY, api_key=alice_token)
        elapsed = time.perf_counter() - started
        for thread in threads:
            thread.join(timeout=5)
    finally:
        client.close()
    assert cached.from_cache and cached.totals.spend == 0.25
    assert elapsed < 1.5 and client.http.bulkhead.rejected == 0


def test_a_full_bulkhead_serves_stale_data_when_it_has_some(sim_server, sim, alice_token):
    client = _client(sim_server, max_concurrency=1, concurrency_wait=0.05)
    try:
        client.daily_activity(DAY, DAY, api_key=alice_token)
        _expire_all(client)
        sim.set_latency(1500)
        threads = _in_flight(client, 1, alice_token)
        answer = client.daily_activity(DAY, DAY, api_key=alice_token)
        for thread in threads:
            thread.join(timeout=5)
    finally:
        client.close()
    assert answer.stale and answer.totals.spend == 0.25
