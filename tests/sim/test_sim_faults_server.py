"""Fault injection, control routes, real HTTP via run_in_thread, restart, seed and CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from app.litellm_sim import create_sim_app, demo_keys, run_in_thread
from app.litellm_sim.cli import _parse_fault, litellm_sim_command

MASTER = "sk-sim-master-0123456789"
ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"Authorization": f"Bearer {MASTER}"}
DAY = {"start_date": "2026-11-01", "end_date": "2026-11-30"}


@pytest.fixture
def http():
    """A fresh simulator over real HTTP; yields (server, state)."""
    app = create_sim_app(master_key=MASTER)
    server = run_in_thread(app)
    yield server, app.extensions["litellm_sim"]
    server.shutdown()


def test_fault_with_times_then_recovers(api, lsim, contract):
    lsim.set_fault("/key/list", 500, times=2)
    for _ in range(2):
        status, body = api.get("/key/list")
        assert status == 500
        contract.validate("ProxyError", body)
    assert api.get("/key/list")[0] == 200
    lsim.set_fault("/user/daily", 503)
    status, body = api.get("/user/daily/activity", **DAY)
    assert status == 503
    contract.validate("DetailError", body)
    lsim.clear_faults()
    assert api.get("/user/daily/activity", **DAY)[0] == 200


def test_fault_custom_body(api, lsim):
    lsim.set_fault("/key/generate", 429, body={"error": {"message": "slow down"}})
    assert api.post("/key/generate", {}) == (429, {"error": {"message": "slow down"}})


def test_garbage_html_and_truncated(lsim_client, lsim):
    lsim.set_garbage("/key/list", "html")
    resp = lsim_client.get("/key/list", headers=HEADERS)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    lsim.set_garbage("/key/list", "truncated")
    resp = lsim_client.get("/key/list", headers=HEADERS)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    with pytest.raises(ValueError):
        resp.get_json(force=True)
    with pytest.raises(ValueError):
        lsim.set_garbage("/key/list", "xml")


def test_never_ending_pages(api, lsim):
    lsim.set_never_ending_pages("/user/daily/activity", True)
    body = api.get("/user/daily/activity", page=99, **DAY)[1]
    assert body["metadata"]["has_more"] is True and body["metadata"]["total_pages"] > 10_000
    lsim.set_never_ending_pages("/key/list", True)
    assert api.get("/key/list")[1]["total_pages"] > 10_000


def test_aggregated_unavailable_is_404(api, lsim):
    lsim.set_aggregated_available(False)
    assert api.get("/user/daily/activity/aggregated", **DAY) == (404, {"detail": "Not Found"})
    assert api.get("/user/daily/activity", **DAY)[0] == 200


def test_call_log(lsim_client, lsim):
    lsim_client.get("/key/list", query_string={"user_id": "a"}, headers=HEADERS)
    lsim_client.get("/key/list")
    lsim_client.get("/_sim/calls", headers=HEADERS)
    assert lsim.calls == [("GET", "/key/list", {"user_id": "a"}), ("GET", "/key/list", {})]
    assert lsim.count("/key/list") == 2 and lsim.count(method="POST") == 0
    lsim.reset_calls()
    assert lsim.count() == 0


def test_latency(lsim_client, lsim):
    lsim.set_latency(60)
    t0 = time.perf_counter()
    lsim_client.get("/health/liveliness")
    assert time.perf_counter() - t0 >= 0.06


def test_control_routes_over_http(http):
    server, state = http
    url = server.base_url
    assert requests.post(f"{url}/_sim/reset", timeout=5).status_code == 401  # needs master key
    key = requests.post(
        f"{url}/_sim/keys", json={"key_alias": "a", "user_id": "u"}, headers=HEADERS, timeout=5
    ).json()
    assert key["token"] in state.keys
    rows = [{"token": key["token"], "date": "2026-11-0" + str(d), "model": "m", "provider": "p",
             "prompt_tokens": 1, "completion_tokens": 2, "spend": 0.5} for d in (1, 2)]  # fmt: skip
    assert requests.post(f"{url}/_sim/usage", json={"rows": rows}, headers=HEADERS,
                         timeout=5).status_code == 200  # fmt: skip
    assert len(state.rows) == 2
    spec = {"fault": {"path": "/key/list", "status": 502, "times": 1}, "latency_ms": 0}
    assert requests.post(f"{url}/_sim/faults", json=spec, headers=HEADERS, timeout=5).ok
    assert requests.get(f"{url}/key/list", headers=HEADERS, timeout=5).status_code == 502
    assert requests.get(f"{url}/key/list", headers=HEADERS, timeout=5).status_code == 200
    calls = requests.get(f"{url}/_sim/calls", headers=HEADERS, timeout=5).json()
    assert calls["count"] == 2 and calls["calls"][0]["path"] == "/key/list"
    assert requests.post(f"{url}/_sim/calls/reset", headers=HEADERS, timeout=5).ok
    assert state.count() == 0
    assert requests.post(f"{url}/_sim/reset", headers=HEADERS, timeout=5).ok
    assert state.keys == {} and state.rows == []


def test_hang_holds_requests_until_its_time_or_a_clear(http):
    server, state = http
    url = server.base_url
    spec = {"hang": {"path": "/key/list", "seconds": 0.4}}
    assert requests.post(f"{url}/_sim/faults", json=spec, headers=HEADERS, timeout=5).ok
    t0 = time.perf_counter()
    assert requests.get(f"{url}/key/list", headers=HEADERS, timeout=5).status_code == 200
    assert time.perf_counter() - t0 >= 0.4
    t0 = time.perf_counter()
    requests.get(f"{url}/key/info", headers=HEADERS, timeout=5)
    assert time.perf_counter() - t0 < 0.3  # other routes are not held

    # A long hang ends the moment the faults are cleared; the held request then answers.
    state.set_hang("/key/list", 30)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        t0 = time.perf_counter()
        held = pool.submit(requests.get, f"{url}/key/list", headers=HEADERS, timeout=10)
        time.sleep(0.3)
        assert not held.done()
        assert requests.post(f"{url}/_sim/faults", json={"clear": True}, headers=HEADERS,
                             timeout=5).ok  # fmt: skip
        assert held.result().status_code == 200
        assert time.perf_counter() - t0 < 3
    assert state.hang_for("/key/list") == 0


def test_key_listing_shows_live_and_deleted_keys(http):
    server, state = http
    live = state.add_key(key_alias="a--one", user_id="a@example.com")
    gone = state.add_key(key_alias="a--two", user_id="a@example.com")
    state.archive_key(gone["token"])
    listing = requests.get(f"{server.base_url}/_sim/keys", headers=HEADERS, timeout=5).json()
    assert listing == {
        "live": [{"token": live["token"], "key_alias": "a--one", "user_id": "a@example.com"}],
        "deleted": [{"token": gone["token"], "key_alias": "a--two", "user_id": "a@example.com"}],
    }
    assert requests.get(f"{server.base_url}/_sim/keys", timeout=5).status_code == 401


def test_shutdown_refuses_then_restart_same_port(http):
    server, state = http
    session = requests.Session()  # keep-alive connection must not survive the shutdown
    assert session.get(f"{server.base_url}/health/liveliness", timeout=5).status_code == 200
    port = server.port
    server.shutdown()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{server.base_url}/health/liveliness", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/health/liveliness", timeout=2)
    server.restart()
    assert server.port == port
    assert session.get(f"{server.base_url}/key/list", headers=HEADERS, timeout=5).ok
    assert state.count("/key/list") == 1  # same state after restart


def test_threaded_concurrent_requests(http):
    server, state = http
    # 8 calls of 500 ms: one after the other they take 4 s; the bound leaves a loaded machine
    # plenty of room while still failing a server that answers one request at a time.
    state.set_latency(500)
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(
            lambda _: requests.get(f"{server.base_url}/health/liveliness", timeout=5).status_code,
            range(8),
        ))  # fmt: skip
    assert codes == [200] * 8 and time.perf_counter() - t0 < 2.0


def test_demo_seed_is_deterministic_and_complete():
    state = create_sim_app(seed="demo").extensions["litellm_sim"]
    again = create_sim_app(seed="demo").extensions["litellm_sim"]
    keys = demo_keys()
    assert {k["token"] for k in keys} == set(state.keys) == set(again.keys)
    assert {k["user_id"] for k in keys} == {
        "alice@example.com", "bob@example.com", "carol@example.com"
    }  # fmt: skip
    assert all(k["alias"].startswith(k["user_id"].split("@")[0]) for k in keys)
    assert [r["spend"] for r in state.rows] == [r["spend"] for r in again.rows]
    assert len({r["date"] for r in state.rows}) >= 85
    assert {r["model"] for r in state.rows} >= {"gpt-4o-mini", "gpt-4o", "claude-sonnet-4"}
    assert any(r["failed_requests"] for r in state.rows)
    assert any(r["cache_creation_input_tokens"] for r in state.rows)


def test_unknown_seed_rejected():
    with pytest.raises(ValueError):
        create_sim_app(seed="lots")


def test_cli_help_and_fault_parsing():
    result = CliRunner().invoke(litellm_sim_command, ["--help"])
    assert result.exit_code == 0 and "--fault" in result.output and "--latency-ms" in result.output
    assert _parse_fault("/key/list=500") == ("/key/list", 500)
    result = CliRunner().invoke(litellm_sim_command, ["--fault", "bogus"])
    assert result.exit_code == 2


def test_python_m_entrypoint():
    out = subprocess.run(
        [sys.executable, "-m", "app.litellm_sim", "--help"],
        capture_output=True, text=True, timeout=30, check=False, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0 and "litellm-sim" not in out.stderr
    assert "Run the LiteLLM simulator" in out.stdout
