"""HTTP_CACHE_URL=redis://…: every instance shares LiteLLM answers through one Redis.

Two apps (as two instances would be) each build their own LiteLLMClient from config; the
simulator's call log shows whether the second one went to LiteLLM or to the shared cache.
"""

from __future__ import annotations

import datetime as dt

import pytest
from prod_support import MASTER_KEY, redis_dump
from requests_cache import RedisCache

from app.services import litellm_client

pytestmark = [
    pytest.mark.redis,
    # requests-cache 1.3 stores entries with SETEX, which redis-py 8 marks deprecated; the
    # warning is harmless in production but pytest turns warnings into errors.
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]

TODAY = dt.datetime.now(dt.UTC).date()
LAST_WEEK = TODAY - dt.timedelta(days=6)


@pytest.fixture
def make_instance(make_config, build_app):
    """``make_instance(cache_url)`` → the LiteLLMClient of a new app using that cache."""

    def make(cache_url: str):
        app = build_app(make_config(HTTP_CACHE_URL=cache_url))
        with app.app_context():
            return litellm_client()

    return make


def _seed(sim, user_id: str = "alice@example.com") -> str:
    stored = sim.add_key(key_alias=f"{user_id}--laptop", user_id=user_id)
    sim.add_usage(
        token=stored["token"],
        date=TODAY,
        model="gpt-4o",
        provider="openai",
        prompt_tokens=100,
        completion_tokens=20,
        spend=0.25,
    )
    return stored["token"]


def test_two_instances_share_key_list_and_usage(sim, redis_url, make_instance):
    token = _seed(sim)
    first, second = make_instance(redis_url), make_instance(redis_url)
    assert first is not second
    assert isinstance(first.http.session.cache, RedisCache)

    listed = first.list_keys("alice@example.com")
    usage = first.daily_activity(LAST_WEEK, TODAY, api_key=token)
    again = second.list_keys("alice@example.com")
    usage_again = second.daily_activity(LAST_WEEK, TODAY, api_key=token)

    assert sim.count("/key/list") == 1
    assert sim.count("/user/daily/activity/aggregated") == 1
    assert [k.token for k in again] == [k.token for k in listed] == [token]
    assert again.from_cache and not listed.from_cache
    assert usage_again.days == usage.days and usage_again.totals == usage.totals
    assert usage_again.from_cache and usage.totals.spend == pytest.approx(0.25)
    assert second.stats.cache_hits == 2 and second.stats.upstream_calls == 0


def test_cache_entries_differ_per_key(sim, redis_url, make_instance):
    """The api_key parameter is part of the cache key: key B never gets key A's usage."""
    token_a = _seed(sim, "alice@example.com")
    token_b = _seed(sim, "bob@example.com")
    first, second = make_instance(redis_url), make_instance(redis_url)
    first.daily_activity(LAST_WEEK, TODAY, api_key=token_a)
    second.daily_activity(LAST_WEEK, TODAY, api_key=token_b)
    assert sim.count("/user/daily/activity/aggregated") == 2


def test_key_creation_on_one_instance_invalidates_the_shared_key_list(
    sim, redis_url, make_instance
):
    _seed(sim)
    _seed(sim, "bob@example.com")
    first, second = make_instance(redis_url), make_instance(redis_url)
    assert len(second.list_keys("alice@example.com")) == 1
    assert len(second.list_keys("bob@example.com")) == 1
    first.generate_key(key_alias="alice@example.com--desk", user_id="alice@example.com")
    assert len(second.list_keys("alice@example.com")) == 2
    assert len(second.list_keys("bob@example.com")) == 1
    assert sim.count("/key/list") == 3  # Alice's list twice; Bob's stayed in the shared cache


def test_two_deployments_on_separate_databases_do_not_collide(
    sim, redis_url, redis_url_other, make_instance
):
    _seed(sim)
    other_url = redis_url_other
    assert other_url != redis_url
    make_instance(redis_url).list_keys("alice@example.com")
    make_instance(other_url).list_keys("alice@example.com")
    assert sim.count("/key/list") == 2
    assert redis_dump(redis_url) and redis_dump(other_url)


def test_master_key_and_key_secrets_are_not_stored_in_redis(sim, redis_url, make_instance):
    token = _seed(sim)
    client = make_instance(redis_url)
    created = client.generate_key(key_alias="alice@example.com--new", user_id="alice@example.com")
    client.list_keys("alice@example.com")
    client.daily_activity(LAST_WEEK, TODAY, api_key=token)
    client.daily_activity(LAST_WEEK, TODAY, user_id="alice@example.com")

    raw = b"\n".join(redis_dump(redis_url))
    assert b"litellm_http_cache" in raw, "nothing was cached in Redis"
    for secret in (MASTER_KEY, created.secret):
        assert secret.encode() not in raw
    # Also decoded (in case the serializer ever compresses): requests-cache replaces the
    # Authorization header of stored requests by a placeholder.
    stored = list(client.http.session.cache.responses.values())
    assert len(stored) == 1  # the key list; usage is kept per UTC day (litellm_usage_days:…)
    assert b"litellm_usage_days" in raw
    for response in stored:
        assert response.request.headers.get("Authorization") in (None, "REDACTED")
        assert MASTER_KEY not in repr(response.request.headers)
        assert created.secret not in response.text


def test_namespace_separates_master_keys_on_one_redis_database(sim, redis_url, make_config):
    """The cache key leaves the master key out, so the namespace must tell deployments apart."""
    from app import create_app
    from app.services.litellm import cache_namespace

    url = make_config().LITELLM_BASE_URL
    assert cache_namespace(url, "sk-one") != cache_namespace(url, "sk-two")
    assert cache_namespace(url, "sk-one") != cache_namespace(url + "0", "sk-one")
    assert "sk-one" not in cache_namespace(url, "sk-one")
    app = create_app(make_config(HTTP_CACHE_URL=redis_url))
    with app.app_context():
        client = litellm_client()
    assert client.http.session.cache.responses.namespace == cache_namespace(url, MASTER_KEY)
