"""LiteLLMClient: caching, retries, timeouts, error mapping, stale fallback, logging and config.

LiteLLM is faked with ``responses`` over the in-memory cache (house style 28); the connection
tests use real sockets on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from client_support import BASE, MASTER, make_client
from requests_cache import BaseCache, RedisCache, SQLiteCache

from app.config import Config, litellm_settings
from app.services.litellm import (
    LiteLLMAuthError,
    LiteLLMBadResponse,
    LiteLLMClient,
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMRejected,
    LiteLLMServerError,
    LiteLLMUnavailable,
    build_cache_backend,
)
from tests.day_cache_support import expire_usage_days

H1 = hashlib.sha256(b"sk-one").hexdigest()
H2 = hashlib.sha256(b"sk-two").hexdigest()
DAY = dt.date(2026, 11, 25)
KEYS_BODY = {"keys": [], "total_count": 0, "current_page": 1, "total_pages": 0}
ACTIVITY_BODY = {"results": [], "metadata": {"page": 1, "total_pages": 0, "has_more": False}}
AGG = f"{BASE}/user/daily/activity/aggregated"


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def expire_everything(client: LiteLLMClient) -> None:
    """Make every cached response expired, as if its TTL had passed."""
    cache = client.http.session.cache
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for key, response in list(cache.responses.items()):
        response.expires = past
        cache.responses[key] = response


@pytest.fixture
def closed_port():
    """A local port nobody listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- caching


def test_repeated_get_is_served_from_cache(client, rsps):
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)  # registered once: a 2nd HTTP call would fail
    first = client.list_keys("alice")
    second = client.list_keys("alice")
    assert len(rsps.calls) == 1
    assert not first.from_cache and second.from_cache
    assert client.stats.upstream_calls == 1 and client.stats.cache_hits == 1


def test_post_is_never_cached(client, rsps):
    body = {"key": "sk-generated0001", "token_id": hashlib.sha256(b"sk-generated0001").hexdigest()}
    post = rsps.post(f"{BASE}/key/generate", json=body)
    client.generate_key(key_alias="a", user_id="u")
    client.generate_key(key_alias="a", user_id="u")
    assert post.call_count == 2
    assert client.stats.cache_hits == 0
    assert len(client.http.session.cache.responses) == 0


def test_api_key_param_distinguishes_cache_entries(client, rsps):
    # requests-cache ignores `api_key` by default: key A and key B would share one entry.
    agg = rsps.get(AGG, json=ACTIVITY_BODY)
    client.daily_activity(DAY, DAY, api_key=H1)
    client.daily_activity(DAY, DAY, api_key=H2)
    client.daily_activity(DAY, DAY, api_key=H1)  # cached
    assert agg.call_count == 2
    assert [query(c)["api_key"] for c in rsps.calls] == [[H1], [H2]]


def test_user_id_param_distinguishes_cache_entries(client, rsps):
    agg = rsps.get(AGG, json=ACTIVITY_BODY)
    keys = rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    for user in ("alice", "bob", "alice", "bob"):
        client.daily_activity(DAY, DAY, user_id=user)
        client.list_keys(user)
    assert agg.call_count == 2 and keys.call_count == 2


def test_master_key_is_not_stored_in_the_cache(client, rsps):
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    client.list_keys("alice")
    (cached,) = client.http.session.cache.responses.values()
    assert MASTER not in str(cached.request.headers)
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {MASTER}"


def test_uncached_routes_are_not_stored(client, rsps):
    rsps.get(f"{BASE}/health/liveliness", json="I'm alive!")
    assert client.health() is True
    assert client.health() is True
    assert len(rsps.calls) == 2


def test_force_refresh_bypasses_reading_but_stores(client, rsps):
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    rsps.get(
        f"{BASE}/key/list",
        json={
            **KEYS_BODY,
            "keys": [{"token": H1, "user_id": "alice"}],
            "total_count": 1,
            "total_pages": 1,
        },
    )
    assert len(client.list_keys("alice")) == 0
    assert len(client.list_keys("alice", force_refresh=True)) == 1
    assert len(client.list_keys("alice")) == 1  # the refreshed response was stored
    assert len(rsps.calls) == 2


def test_generate_and_delete_invalidate_cached_key_lists(client, rsps):
    listing = rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    rsps.post(f"{BASE}/key/delete", json={"deleted_keys": [H1]})
    client.list_keys("alice")
    client.delete_key(H1)
    client.list_keys("alice")
    assert listing.call_count == 2


def test_usage_cached_for_today_uses_short_ttl(client, rsps):
    rsps.get(AGG, json=ACTIVITY_BODY)
    today = dt.datetime.now(dt.UTC).date()
    client.daily_activity(today, today)
    (held,) = client.usage_days.cache.read({}, [today]).values()
    assert held.fresh_until - held.fetched_at <= dt.timedelta(seconds=61)
    assert len(client.http.session.cache.responses) == 0  # kept per day, not per answer


# --------------------------------------------------------------------------- retries


def test_get_is_retried_on_503_then_succeeds(client, rsps):
    rsps.get(f"{BASE}/key/list", status=503, json={"error": {"message": "busy"}})
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    assert client.list_keys("alice").pages == 1
    assert len(rsps.calls) == 2


def test_get_gives_up_after_retries(client, rsps):
    rsps.get(f"{BASE}/key/list", status=503, body="")
    with pytest.raises(LiteLLMUnavailable) as info:
        client.list_keys("alice")
    assert len(rsps.calls) == 3  # 1 + 2 retries
    assert info.value.status == 503


def test_post_is_not_retried(client, rsps):
    rsps.post(f"{BASE}/key/generate", status=503, json={"error": {"message": "busy"}})
    with pytest.raises(LiteLLMUnavailable):
        client.generate_key(key_alias="a", user_id="u")
    assert len(rsps.calls) == 1


def test_delete_is_not_retried(client, rsps):
    rsps.post(f"{BASE}/key/delete", status=502, body="Bad Gateway")
    with pytest.raises(LiteLLMUnavailable):
        client.delete_key(H1)
    assert len(rsps.calls) == 1


# --------------------------------------------------------------------------- errors


def test_timeout_becomes_unavailable(client, rsps):
    rsps.get(f"{BASE}/key/list", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(LiteLLMUnavailable, match="did not answer in time") as info:
        client.list_keys("alice")
    assert info.value.status is None and info.value.route == "/key/list"


def test_real_read_timeout_does_not_hang():
    # A server that accepts connections but never answers.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}", read_timeout=0.2)
    try:
        with pytest.raises(LiteLLMUnavailable):
            client.list_keys("alice")
    finally:
        client.close()
        server.close()


def test_refused_connection_becomes_unavailable(closed_port):
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}")
    try:
        with pytest.raises(LiteLLMUnavailable, match="connection refused") as info:
            client.daily_activity(DAY, DAY)
        assert info.value.status is None
        assert client.health() is False
    finally:
        client.close()


def test_500_error_envelope(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        status=500,
        json={
            "error": {
                "message": "Database not connected",
                "type": "internal_server_error",
                "param": None,
                "code": "500",
            }
        },
    )
    with pytest.raises(LiteLLMServerError) as info:
        client.list_keys("alice")
    assert info.value.message == "Database not connected" and info.value.status == 500
    assert isinstance(info.value, LiteLLMError)
    assert len(rsps.calls) == 3  # 500 is retried for GET


def test_500_detail_envelope(client, rsps):
    rsps.get(AGG, status=500, json={"detail": {"error": "DB not connected. Needs a database"}})
    with pytest.raises(LiteLLMServerError, match="DB not connected") as info:
        client.daily_activity(DAY, DAY)
    assert info.value.route == "/user/daily/activity/aggregated"


def test_500_with_dict_repr_message_on_generate(client, rsps):
    rsps.post(
        f"{BASE}/key/generate",
        status=500,
        json={
            "error": {
                "message": "{'error': 'DB not connected. This endpoint needs a database'}",
                "code": "500",
            }
        },
    )
    with pytest.raises(LiteLLMServerError) as info:
        client.generate_key(key_alias="a", user_id="u")
    assert info.value.message == "DB not connected. This endpoint needs a database"


def test_401_becomes_auth_error(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        status=401,
        json={
            "error": {
                "message": "Authentication Error, Invalid API key provided.",
                "type": "token_not_found_in_db",
                "param": "key",
                "code": "401",
            }
        },
    )
    with pytest.raises(LiteLLMAuthError, match="Invalid API key"):
        client.list_keys("alice")


def test_403_detail_becomes_auth_error(client, rsps):
    rsps.get(
        AGG, status=403, json={"detail": {"error": "Non-admin users can only view their own."}}
    )
    with pytest.raises(LiteLLMAuthError, match="Non-admin"):
        client.daily_activity(DAY, DAY)


def test_404_dict_repr_message_is_cleaned(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        status=404,
        json={
            "error": {
                "message": "{'error': 'No keys found'}",
                "type": "internal_server_error",
                "code": "404",
            }
        },
    )
    with pytest.raises(LiteLLMNotFound) as info:
        client.list_keys("alice")
    assert info.value.message == "No keys found"
    assert str(info.value) == "LiteLLM /key/list answered 404: No keys found"


def test_delete_answers_false_when_already_gone(client, rsps):
    rsps.post(
        f"{BASE}/key/delete",
        status=404,
        json={
            "error": {
                "message": "{'error': 'No keys found'}",
                "type": "invalid_request_error",
                "code": "404",
            }
        },
    )
    assert client.delete_key(H1) is False


def test_delete_by_token_and_by_alias(client, rsps):
    rsps.post(
        f"{BASE}/key/delete",
        json={"deleted_keys": [H1]},
        match=[responses.matchers.json_params_matcher({"keys": [H1]})],
    )
    rsps.post(
        f"{BASE}/key/delete",
        json={"deleted_keys": ["alias"]},
        match=[responses.matchers.json_params_matcher({"key_aliases": ["alias"]})],
    )
    assert client.delete_key(H1) is True
    assert client.delete_key(key_alias="alias") is True
    with pytest.raises(ValueError):
        client.delete_key()


def test_400_duplicate_alias_is_rejected_with_message(client, rsps):
    message = (
        "Key with alias 'alice--laptop' already exists. Unique key aliases across all keys "
        "are required."
    )
    rsps.post(
        f"{BASE}/key/generate",
        status=400,
        json={
            "error": {"message": message, "type": "bad_request_error", "param": None, "code": "400"}
        },
    )
    with pytest.raises(LiteLLMRejected) as info:
        client.generate_key(key_alias="alice--laptop", user_id="alice")
    assert info.value.message == message and info.value.status == 400


def test_422_list_is_rejected_with_readable_message(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        status=422,
        json={
            "detail": [
                {
                    "type": "less_than_equal",
                    "loc": ["query", "size"],
                    "msg": "Input should be <= 100",
                },
                {
                    "type": "int_parsing",
                    "loc": ["query", "page"],
                    "msg": "Input should be an integer",
                },
            ]
        },
    )
    with pytest.raises(LiteLLMRejected) as info:
        client.list_keys("alice")
    assert info.value.message == "size: Input should be <= 100; page: Input should be an integer"


def test_html_instead_of_json_is_a_bad_response(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        body="<!DOCTYPE html><html><body>Login</body></html>",
        content_type="text/html",
    )
    with pytest.raises(LiteLLMBadResponse, match="HTML page instead of JSON"):
        client.list_keys("alice")


def test_html_error_page_keeps_status_class(client, rsps):
    rsps.post(
        f"{BASE}/key/delete",
        status=502,
        body="<html><h1>502 Bad Gateway</h1></html>",
        content_type="text/html",
    )
    with pytest.raises(LiteLLMUnavailable, match="HTML page") as info:
        client.delete_key(H1)
    assert "<h1>" not in info.value.message


def test_truncated_json_is_a_bad_response(client, rsps):
    rsps.get(AGG, body='{"results": [{"date": "2026-11-25", "metr', content_type="application/json")
    with pytest.raises(LiteLLMBadResponse, match="invalid or truncated JSON"):
        client.daily_activity(DAY, DAY)


def test_errors_are_not_cached(client, rsps):
    rsps.get(f"{BASE}/key/list", status=404, json={"error": {"message": "Not found"}})
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    with pytest.raises(LiteLLMNotFound):
        client.list_keys("alice")
    assert client.list_keys("alice").from_cache is False and len(rsps.calls) == 2


def test_views_never_see_requests_exceptions(client, rsps):
    rsps.get(f"{BASE}/key/list", body=requests.exceptions.SSLError("bad cert"))
    with pytest.raises(LiteLLMUnavailable):
        client.list_keys("alice")


# --------------------------------------------------------------------------- stale fallback


def test_stale_fallback_on_outage(client, rsps):
    rsps.get(
        AGG,
        json={
            "results": [{"date": "2026-11-25", "metrics": {"spend": 3.0}}],
            "metadata": {"has_more": False},
        },
    )
    fresh = client.daily_activity(DAY, DAY, user_id="alice")
    expire_usage_days(client)
    rsps.get(AGG, status=503, body="")

    stale = client.daily_activity(DAY, DAY, user_id="alice")

    assert stale.stale is True and stale.from_cache is True
    assert stale.totals.spend == 3.0
    assert stale.fetched_at == fresh.fetched_at or abs(stale.fetched_at - fresh.fetched_at) < (
        dt.timedelta(seconds=1)
    )
    assert client.stats.stale_served == 1


def test_stale_fallback_on_refused_connection(closed_port):
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}")
    try:
        with responses.RequestsMock() as rsps:
            rsps.get(
                f"http://127.0.0.1:{closed_port}/key/list",
                json={
                    "keys": [{"token": H1, "user_id": "alice"}],
                    "total_count": 1,
                    "total_pages": 1,
                },
            )
            client.list_keys("alice")
        expire_everything(client)
        result = client.list_keys("alice")  # real socket: refused
        assert result.stale is True and [k.token for k in result] == [H1]
    finally:
        client.close()


def test_no_stale_fallback_for_client_errors(client, rsps):
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    client.list_keys("alice")
    expire_everything(client)
    rsps.get(f"{BASE}/key/list", status=404, json={"error": {"message": "Not found"}})
    with pytest.raises(LiteLLMNotFound):
        client.list_keys("alice")


def test_outage_without_cache_raises(client, rsps):
    rsps.get(AGG, status=504, body="")
    with pytest.raises(LiteLLMUnavailable):
        client.daily_activity(DAY, DAY)


# --------------------------------------------------------------------------- secrets & logs


def test_master_key_never_in_logs_repr_or_errors(client, rsps, caplog, closed_port):
    caplog.set_level(logging.DEBUG)
    # An upstream that echoes the key it was sent must not leak it through our messages.
    rsps.get(
        f"{BASE}/key/list",
        status=401,
        json={"error": {"message": f"Invalid key {MASTER}", "code": "401"}},
    )
    rsps.get(AGG, status=500, json={"detail": {"error": f"boom Bearer {MASTER}"}})
    errors = []
    for call in (lambda: client.list_keys("alice"), lambda: client.daily_activity(DAY, DAY)):
        with pytest.raises(LiteLLMError) as info:
            call()
        errors.append(info.value)

    assert MASTER not in repr(client) and MASTER not in str(client)
    for exc in errors:
        assert MASTER not in str(exc) and MASTER not in exc.message and MASTER not in repr(exc)
    for record in caplog.records:
        assert MASTER not in record.getMessage()
        assert all(MASTER not in str(v) for v in vars(record).values())


def test_one_structured_log_line_per_call(client, rsps, caplog):
    caplog.set_level(logging.INFO, logger="app.litellm")
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    client.list_keys("alice")
    client.list_keys("alice")
    records = [r for r in caplog.records if r.name == "app.litellm"]
    assert len(records) == 2
    first, second = records
    assert (first.route, first.method, first.status, first.cache_hit) == (
        "/key/list",
        "GET",
        200,
        False,
    )
    assert second.cache_hit is True
    assert isinstance(first.duration_ms, float)
    assert "alice" not in first.getMessage()  # path only, no query values


def test_generated_secret_is_not_logged(client, rsps, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk-brandnewsecret0001"
    rsps.post(
        f"{BASE}/key/generate",
        json={"key": secret, "token_id": hashlib.sha256(secret.encode()).hexdigest()},
    )
    key = client.generate_key(key_alias="a", user_id="u")
    assert secret not in repr(key)
    assert all(secret not in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- health & config


def test_health(client, rsps):
    rsps.get(f"{BASE}/health/liveliness", json="I'm alive!")
    rsps.get(f"{BASE}/health/liveliness", status=503, body="")
    assert client.health() is True
    assert client.health() is False


def test_build_cache_backend(tmp_path):
    assert type(build_cache_backend("memory", str(tmp_path))) is BaseCache
    default = build_cache_backend("", str(tmp_path))
    assert isinstance(default, SQLiteCache)
    assert default.responses.db_path == tmp_path / "http_cache.sqlite"
    absolute = tmp_path / "sub" / "c.sqlite"
    assert build_cache_backend(f"sqlite:///{absolute}", str(tmp_path)).responses.db_path == absolute
    bare = build_cache_backend(str(tmp_path / "bare.sqlite"), str(tmp_path))
    assert bare.responses.db_path == tmp_path / "bare.sqlite"
    redis_backend = build_cache_backend("redis://127.0.0.1:6390/2", str(tmp_path))
    assert isinstance(redis_backend, RedisCache)  # no connection is made until used
    for backend in (default, bare):
        backend.close()
    redis_backend.responses.connection.close()


def test_settings_from_the_app_configuration_reach_the_session(monkeypatch):
    # Read and checked once by Config; litellm_settings only carries the typed values over.
    # (A missing URL or master key is refused there: tests/foundation/test_config.py.)
    env = {
        "LITELLM_BASE_URL": "http://proxy:4000/",
        "LITELLM_MASTER_KEY": MASTER,
        "LITELLM_TIMEOUT": "12",
        "LITELLM_CONNECT_TIMEOUT": "2",
        "LITELLM_KEY_LIST_TTL": "60",
        "LITELLM_USAGE_TTL": "120",
        "LITELLM_MAX_PAGES": "7",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = LiteLLMClient(litellm_settings(Config().as_mapping()))
    try:
        assert client.settings.base_url == "http://proxy:4000"
        assert client.settings.read_timeouts == (2.0, 12.0) and client.settings.max_pages == 7
        patterns = client.http.session.settings.urls_expire_after
        assert patterns == {"*/key/list": 60} and client.settings.usage_ttl == 120
        assert client.http.session.settings.ignored_parameters == ["Authorization"]
        assert MASTER not in repr(client) and MASTER not in repr(client.settings)
    finally:
        client.close()


def test_every_call_has_explicit_timeouts(client, rsps):
    rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
    rsps.post(f"{BASE}/key/delete", json={"deleted_keys": [H1]})
    client.list_keys("alice")
    client.delete_key(H1)
    # Views read with a short timeout; a POST waits longer, as its outcome would be unknown.
    assert rsps.calls[0].request.req_kwargs["timeout"] == (3.05, 5.0)
    assert rsps.calls[1].request.req_kwargs["timeout"] == (3.05, 15.0)


def test_sqlite_cache_file_works_end_to_end(tmp_path, rsps):
    client = make_client(cache_backend=build_cache_backend("", str(tmp_path)))
    try:
        rsps.get(f"{BASE}/key/list", json=KEYS_BODY)
        client.list_keys("alice")
        assert client.list_keys("alice").from_cache
        assert os.path.exists(tmp_path / "http_cache.sqlite")
    finally:
        client.close()


def test_an_unknown_setting_cannot_be_set_silently(client):
    # Settings live in the frozen LiteLLMSettings; a stray attribute would change nothing.
    with pytest.raises(AttributeError):
        client.timeout = (1.0, 0.2)
    with pytest.raises(AttributeError):
        client.http.read_timeout = 0.2
