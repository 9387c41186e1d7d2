"""Behaviour seen on a real LiteLLM proxy that the simulator must reproduce (usage side):
release differences, the top-N key list, the batch writer's delay."""

from __future__ import annotations

import time

import pytest
import requests

from app.litellm_sim import create_sim_app, run_in_thread

RANGE = {"start_date": "2026-11-01", "end_date": "2026-11-30"}


@pytest.fixture
def two_users(lsim):
    alice = lsim.add_key(key_alias="alice--laptop", user_id="alice")["token"]
    bob = lsim.add_key(key_alias="bob--laptop", user_id="bob")["token"]
    for token, spend in ((alice, 1.0), (bob, 2.0)):
        lsim.add_usage(token=token, date="2026-11-02", model="m", provider="p",
                       prompt_tokens=1, completion_tokens=1, spend=spend)  # fmt: skip
    return alice, bob


def _owners(body):
    return {e for day in body["results"] for e in day["breakdown"]["entities"]}


@pytest.mark.parametrize(
    ("version", "aggregated", "aggregated_filters", "paginated_filters"),
    [
        ("1.75.0", 404, None, False),
        ("1.76.0", 200, False, False),
        ("1.77.0", 200, True, False),
        ("1.83.0", 200, True, True),
        ("1.108.7", 200, True, True),
    ],
)  # fmt: skip
def test_user_filter_and_aggregated_by_release(
    api, lsim, two_users, version, aggregated, aggregated_filters, paginated_filters
):
    lsim.set_version(version)
    status, body = api.get("/user/daily/activity/aggregated", user_id="alice", **RANGE)
    assert status == aggregated
    if status == 200:
        assert _owners(body) == ({"alice"} if aggregated_filters else {"alice", "bob"})
    body = api.get("/user/daily/activity", user_id="alice", **RANGE)[1]
    assert _owners(body) == ({"alice"} if paginated_filters else {"alice", "bob"})


def test_breakdown_fields_by_release(api, lsim, two_users):
    lsim.set_version("1.108.7")
    day = api.get("/user/daily/activity", **RANGE)[1]["results"][0]
    assert "guardrails" not in day["breakdown"]
    assert day["breakdown"]["entities"]["alice"]["metadata"] == {}
    lsim.set_version("1.110.2")
    day = api.get("/user/daily/activity", **RANGE)[1]["results"][0]
    assert day["breakdown"]["guardrails"] == {}
    assert day["breakdown"]["entities"]["alice"]["metadata"] == {"user_email": None,
                                                                 "user_alias": None}  # fmt: skip


def test_api_key_limit_is_one_top_list_for_the_whole_range(api, lsim):
    """big spends most over the range, small most on Nov 1: with a limit of 1 LiteLLM keeps big
    on every day, so Nov 1 shows no key at all rather than small."""
    big = lsim.add_key(key_alias="big", user_id="u")["token"]
    small = lsim.add_key(key_alias="small", user_id="u")["token"]
    for token, day, spend in ((small, "2026-11-01", 1.0), (big, "2026-11-02", 5.0)):
        lsim.add_usage(token=token, date=day, model="m", provider="p", prompt_tokens=1,
                       completion_tokens=1, spend=spend)  # fmt: skip
    body = api.get("/user/daily/activity/aggregated", api_key_limit=1, **RANGE)[1]
    keys_per_day = {d["date"]: set(d["breakdown"]["api_keys"]) for d in body["results"]}
    assert keys_per_day == {"2026-11-02": {big}, "2026-11-01": set()}
    nov1 = next(d for d in body["results"] if d["date"] == "2026-11-01")
    assert nov1["breakdown"]["models"]["m"]["api_key_breakdown"] == {}
    assert nov1["metrics"]["spend"] == 1.0  # the day's totals still cover every key
    assert body["metadata"]["total_api_keys"] == 2


def test_batch_write_delay_hides_usage_and_spend_until_written(api, lsim):
    token = lsim.add_key(key_alias="a", user_id="u")["token"]
    lsim.set_batch_write_delay(0.4)
    lsim.add_usage(token=token, date="2026-11-02", model="m", provider="p", prompt_tokens=1,
                   completion_tokens=1, spend=0.25)  # fmt: skip
    assert api.get("/user/daily/activity", **RANGE)[1]["results"] == []
    assert api.get("/user/daily/activity/aggregated", **RANGE)[1]["results"] == []
    assert api.get("/key/info", key=token)[1]["info"]["spend"] == 0.0
    time.sleep(0.45)
    assert api.get("/user/daily/activity", **RANGE)[1]["metadata"]["total_spend"] == 0.25
    info = api.get("/key/info", key=token)[1]["info"]
    assert info["spend"] == 0.25 and info["last_active"] is not None


def test_batch_write_delay_over_http_and_flush():
    """The control route sets the delay and ``/_sim/usage/flush`` writes pending rows at once;
    the delay survives ``/_sim/reset`` when given at start-up (``--batch-write-delay``)."""
    sim_app = create_sim_app(master_key="sk-m", batch_write_delay=60)
    server = run_in_thread(sim_app)
    auth = {"Authorization": "Bearer sk-m"}
    try:
        url = server.base_url
        requests.post(f"{url}/_sim/reset", headers=auth, timeout=5)
        token = requests.post(f"{url}/_sim/keys", json={"key_alias": "a", "user_id": "u"},
                              headers=auth, timeout=5).json()["token"]  # fmt: skip
        row = {"token": token, "date": "2026-11-02", "model": "m", "provider": "p",
               "prompt_tokens": 1, "completion_tokens": 1, "spend": 0.5}  # fmt: skip
        requests.post(f"{url}/_sim/usage", json=row, headers=auth, timeout=5)
        activity = f"{url}/user/daily/activity"
        assert requests.get(activity, params=RANGE, headers=auth, timeout=5).json()["results"] == []
        flushed = requests.post(f"{url}/_sim/usage/flush", headers=auth, timeout=5).json()
        assert flushed == {"written": 1}
        body = requests.get(activity, params=RANGE, headers=auth, timeout=5).json()
        assert body["metadata"]["total_spend"] == 0.5
        requests.post(f"{url}/_sim/faults", json={"batch_write_delay": 0}, headers=auth, timeout=5)
        requests.post(f"{url}/_sim/usage", json=row, headers=auth, timeout=5)
        body = requests.get(activity, params=RANGE, headers=auth, timeout=5).json()
        assert body["metadata"]["total_spend"] == 1.0
    finally:
        server.shutdown()


def test_cli_options_for_release_delay_and_enterprise(monkeypatch):
    from click.testing import CliRunner

    from app.litellm_sim import cli

    seen = {}
    monkeypatch.setattr(cli, "run_simple", lambda host, port, app, **kw: seen.update(app=app))
    result = CliRunner().invoke(cli.litellm_sim_command, [
        "--seed", "none", "--batch-write-delay", "15", "--litellm-version", "1.75.0",
        "--enterprise"])  # fmt: skip
    assert result.exit_code == 0, result.output
    state = seen["app"].extensions["litellm_sim"]
    assert (state.batch_write_delay, state.version, state.enterprise) == (15.0, "1.75.0", True)
    assert not state.aggregated_available


def test_fields_of_litellm_1_75(api, lsim, two_users):
    """What LiteLLM 1.75.0 sends (seen on a running proxy): fewer metrics, no endpoints
    breakdown, key metadata with alias and team only, no response-time or key-limit totals."""
    lsim.set_version("1.75.0")
    body = api.get("/user/daily/activity", **RANGE)[1]
    day = body["results"][0]
    assert set(day["metrics"]) == {
        "spend", "prompt_tokens", "completion_tokens", "cache_read_input_tokens",
        "cache_creation_input_tokens", "total_tokens", "successful_requests", "failed_requests",
        "api_requests"}  # fmt: skip
    assert list(day["breakdown"]) == ["mcp_servers", "models", "model_groups", "providers",
                                      "api_keys", "entities"]  # fmt: skip
    key_entry = next(iter(day["breakdown"]["api_keys"].values()))
    assert set(key_entry["metadata"]) == {"key_alias", "team_id"}
    assert set(key_entry["metrics"]) == set(day["metrics"])
    model = day["breakdown"]["models"]["m"]
    key_in_model = next(iter(model["api_key_breakdown"].values()))
    assert set(key_in_model["metadata"]) == {"key_alias", "team_id"}
    assert set(body["metadata"]) == {
        "total_spend", "total_prompt_tokens", "total_completion_tokens", "total_tokens",
        "total_api_requests", "total_successful_requests", "total_failed_requests",
        "total_cache_read_input_tokens", "total_cache_creation_input_tokens", "page",
        "total_pages", "has_more"}  # fmt: skip


def test_dates_and_validation_errors_by_release(api, lsim, two_users):
    lsim.set_version("1.75.0")  # dates compared as strings; 422 entries carry input and ctx
    reversed_range = {"start_date": "2026-11-30", "end_date": "2026-11-01"}
    assert api.get("/user/daily/activity", **reversed_range) == (200, api.get(
        "/user/daily/activity", start_date="2026-12-01", end_date="2026-12-01")[1])  # fmt: skip
    assert api.get("/user/daily/activity", start_date="2026-9-1", end_date="2026-9-2")[0] == 200
    status, body = api.get("/user/daily/activity", page_size=5000, **RANGE)
    entry = body["detail"][0]
    assert (status, entry["input"], entry["ctx"]) == (422, "5000", {"le": 1000})
    lsim.set_version("1.108.7")
    assert api.get("/user/daily/activity", **reversed_range)[0] == 400
    status, body = api.get("/user/daily/activity", page_size=5000, **RANGE)
    assert status == 422 and set(body["detail"][0]) == {"type", "loc", "msg"}
