"""LiteLLMClient against the LiteLLM simulator over real HTTP on 127.0.0.1.

Proves what the unit tests can only fake: a repeated identical GET is answered from the cache
(the simulator's call count stays), a POST never is, and per-key usage is cached per key.
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.services.litellm import LiteLLMClient, LiteLLMRejected, LiteLLMSettings

MASTER_KEY = "sk-sim-master-0123456789"  # the key tests/conftest.py starts the simulator with
DAY = dt.date(2026, 11, 25)


@pytest.fixture
def litellm(sim_server, sim):
    client = LiteLLMClient(LiteLLMSettings(sim_server.base_url, MASTER_KEY, backoff_factor=0))
    yield client
    client.close()


def test_repeated_get_is_served_from_cache(litellm, sim):
    sim.add_key(key_alias="alice--laptop", user_id="alice")
    first = litellm.list_keys("alice")
    second = litellm.list_keys("alice")
    assert [k.key_alias for k in second] == ["alice--laptop"] == [k.key_alias for k in first]
    assert second.from_cache
    assert sim.count(path="/key/list") == 1


def test_post_is_never_cached(litellm, sim):
    first = litellm.generate_key(key_alias="bob--one", user_id="bob")
    with pytest.raises(LiteLLMRejected, match="already exists"):
        litellm.generate_key(key_alias="bob--one", user_id="bob")
    assert sim.count(path="/key/generate") == 2
    assert first.token_id in {k.token for k in litellm.list_keys("bob")}
    assert litellm.delete_key(first.token_id) is True
    assert litellm.delete_key(first.token_id) is False
    assert sim.count(path="/key/delete") == 2


def test_usage_is_cached_per_api_key(litellm, sim):
    a = sim.add_key(key_alias="carol--a", user_id="carol")["token"]
    b = sim.add_key(key_alias="carol--b", user_id="carol")["token"]
    for token, spend in ((a, 1.0), (b, 2.0)):
        sim.add_usage(
            token=token,
            date=DAY,
            model="gpt-4o-mini",
            provider="openai",
            prompt_tokens=10,
            completion_tokens=5,
            spend=spend,
            user_id="carol",
        )
    spends = [litellm.daily_activity(DAY, DAY, api_key=t).totals.spend for t in (a, b, a, b)]
    assert spends == [1.0, 2.0, 1.0, 2.0]
    upstream = sim.count(path="/user/daily/activity/aggregated") + sim.count(
        path="/user/daily/activity"
    )
    assert upstream == 2


def test_get_retried_after_one_503(litellm, sim):
    sim.set_fault("/key/list", 503, times=1)
    assert litellm.list_keys("dave").pages == 1
    assert sim.count(path="/key/list") == 2
