"""backfill-tokens as a command: LiteLLM call budget, sweep choice, leftovers bound, --json,
the progress bar, and the exit statuses."""

from __future__ import annotations

import json
import math

from backfill_seed import noise

from app import backfill_cli
from app.services.keys import alias_for


def test_call_count_stays_within_the_pages_needed(runner, seeded, tokens, key_list_calls):
    expected = seeded(users=30, keys_per_user=20)  # 600 keys
    result = runner.invoke(args=["backfill-tokens", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    calls = key_list_calls()
    # The bound of the issue: ≈600/100 pages plus at most one partial page per user.
    assert len(calls) <= math.ceil(600 / 100) + 30
    # And what it really does: one global sweep, page 1 doubling as the probe.
    assert report["mode"] == "global"
    assert len(calls) == 6 == report["litellm_calls"]
    assert all("user_id" not in q and "key_alias" not in q and q["size"] == "100" for q in calls)
    assert sorted(int(q["page"]) for q in calls) == [1, 2, 3, 4, 5, 6]
    assert tokens() == expected


def test_per_user_sweeps_when_the_global_list_is_longer(
    runner, sim, seeded, tokens, key_list_calls
):
    expected = seeded(users=3, keys_per_user=5)
    noise(sim, 1000)  # 11 global pages against 3 one-page user sweeps
    result = runner.invoke(args=["backfill-tokens", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["mode"] == "per-user"
    calls = key_list_calls()
    assert len(calls) == 1 + 3  # the global probe (page 1), then one page per user
    assert sorted(q.get("user_id", "") for q in calls[1:]) == [
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
    ]
    assert tokens() == expected


def test_a_single_user_needs_no_probe(runner, seeded, key_list_calls):
    seeded(users=2, keys_per_user=2)
    result = runner.invoke(args=["backfill-tokens", "--user", "u1@example.com"])
    assert result.exit_code == 0
    assert [q.get("user_id") for q in key_list_calls()] == ["u1@example.com"]


def test_many_leftovers_cost_one_global_sweep_not_one_call_per_key(
    runner, sim, make_user, make_key, tokens, key_list_calls
):
    alice = make_user("alice@example.com")
    mine = make_key(alice, "mine", store_token=False)
    strays = []
    for i in range(25):  # 25 aliases that LiteLLM has under another user_id
        key = make_key(alice, f"stray{i}", store_token=False, in_litellm=False)
        sim.add_key(key_alias=key.alias, user_id="bob@example.com")
        strays.append(key)
    noise(sim, 250)  # a 3-page global list
    result = runner.invoke(args=["backfill-tokens", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    outcomes = {r["key_id"]: r["outcome"] for r in report["results"]}
    assert outcomes[mine.id] == "resolved"
    assert {outcomes[k.id] for k in strays} == {"owner_mismatch"}
    calls = key_list_calls()
    assert len(calls) == 1 + 3  # alice's sweep, then ONE global sweep (3 pages)
    assert not any("key_alias" in q for q in calls)
    assert tokens()[mine.id] == mine.token


def test_few_leftovers_use_alias_lookups(runner, sim, make_user, make_key, key_list_calls):
    alice = make_user("alice@example.com")
    make_key(alice, "mine", store_token=False)
    for i in range(3):
        key = make_key(alice, f"stray{i}", store_token=False, in_litellm=False)
        sim.add_key(key_alias=key.alias, user_id="bob@example.com")
    noise(sim, 250)
    assert runner.invoke(args=["backfill-tokens"]).exit_code == 1
    calls = key_list_calls()
    assert len(calls) == 1 + 3
    assert [q.get("key_alias") for q in calls[1:]] == [
        alias_for(alice, f"stray{i}") for i in range(3)
    ]


def test_json_puts_only_the_report_on_stdout(runner, make_user, make_key):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop", store_token=False)
    result = runner.invoke(args=["backfill-tokens", "--json"])
    report = json.loads(result.stdout)  # would fail on any extra line
    assert report["exit_status"] == 0 and report["counts"]["resolved"] == 1
    assert report["results"][0]["token_id"] == key.token
    assert "backfill-tokens:" not in result.stdout


def test_progress_bar_on_stderr_only_when_a_terminal(runner, seeded, monkeypatch):
    seeded(users=2, keys_per_user=2)
    quiet = runner.invoke(args=["backfill-tokens", "--dry-run"])
    assert "LiteLLM /key/list" not in quiet.stderr + quiet.stdout
    monkeypatch.setattr(backfill_cli, "stderr_is_tty", lambda: True)
    shown = runner.invoke(args=["backfill-tokens", "--json"])
    assert "LiteLLM /key/list" in shown.stderr
    assert "LiteLLM /key/list" not in shown.stdout
    json.loads(shown.stdout)


def test_exit_statuses(runner, sim, make_user, make_key):
    alice = make_user("alice@example.com")
    assert runner.invoke(args=["backfill-tokens"]).exit_code == 0  # nothing to do
    make_key(alice, "laptop", store_token=False)
    make_key(alice, "gone", store_token=False, in_litellm=False)
    sim.set_fault("/key/list", 503)
    assert runner.invoke(args=["backfill-tokens"]).exit_code == 2  # LiteLLM unavailable
    sim.clear_faults()
    first = runner.invoke(args=["backfill-tokens"])
    assert first.exit_code == 1 and alias_for(alice, "gone") in first.stdout
    sim.add_key(key_alias=alias_for(alice, "gone"), user_id="alice@example.com")
    assert runner.invoke(args=["backfill-tokens"]).exit_code == 0


def test_help_is_the_docstring(runner):
    result = runner.invoke(args=["backfill-tokens", "--help"])
    assert result.exit_code == 0
    assert "Fill litellm_token_id for keys created before the column existed." in result.stdout
    for option in (
        "--dry-run",
        "--user",
        "--batch-size",
        "--include-revoked",
        "--verify",
        "--json",
    ):
        assert option in result.stdout
