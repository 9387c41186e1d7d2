"""backfill-tokens under faults: LiteLLM down at the start or mid-run, refused auth, database
errors mid-write, and /key/list pages that repeat items or shrink while paging."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers
from sqlalchemy.exc import OperationalError

from app.services import backfill_writer
from app.services.backfill import run_backfill
from app.services.litellm import LiteLLMClient, LiteLLMSettings

BASE = "http://litellm.test"


def invoke(runner, *args: str):
    return runner.invoke(args=["backfill-tokens", *args])


def test_litellm_down_at_start_exits_2_and_writes_nothing(runner, sim_server, seeded, tokens):
    expected = seeded(users=3, keys_per_user=2)
    sim_server.shutdown()
    try:
        result = invoke(runner, "--json")
    finally:
        sim_server.restart()
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["error"].startswith("LiteLLM failed")
    assert "0 written" in result.stderr and "rerun" in result.stderr
    assert set(tokens().values()) == {None}
    assert invoke(runner).exit_code == 0
    assert tokens() == expected


def test_refused_master_key_exits_2(runner, sim, seeded, tokens):
    seeded(users=1, keys_per_user=2)
    sim.set_fault("/key/list", 401)
    result = invoke(runner)
    assert result.exit_code == 2
    assert "401" in result.stderr
    assert set(tokens().values()) == {None}


def test_litellm_down_mid_run_keeps_committed_batches_and_rerun_finishes(
    runner, sim, sim_server, seeded, tokens, monkeypatch
):
    expected = seeded(users=4, keys_per_user=3)
    noise_owner = "bulk@example.com"
    for i in range(500):  # global sweep (6 pages) costs more than 4 per-user sweeps
        sim.add_key(key_alias=f"bulk-{i}", user_id=noise_owner)
    original = LiteLLMClient.iter_key_pages
    user_sweeps = []

    def flaky(self, user_id=None, key_alias=None, **kw):
        if user_id is not None:
            user_sweeps.append(user_id)
            if len(user_sweeps) == 3:
                sim_server.shutdown()  # LiteLLM dies before the third user's sweep
        return original(self, user_id, key_alias, **kw)

    monkeypatch.setattr(LiteLLMClient, "iter_key_pages", flaky)
    try:
        result = invoke(runner, "--batch-size", "2")
    finally:
        sim_server.restart()
    assert result.exit_code == 2
    assert "6 written" in result.stderr and "a rerun continues" in result.stderr
    stored = {k: v for k, v in tokens().items() if v is not None}
    assert len(stored) == 6
    assert all(expected[k] == v for k, v in stored.items())  # what was written is right
    monkeypatch.setattr(LiteLLMClient, "iter_key_pages", original)
    result = invoke(runner)
    assert result.exit_code == 0, result.output
    assert tokens() == expected


def test_database_error_rolls_back_only_the_current_batch(runner, seeded, tokens, monkeypatch):
    expected = seeded(users=2, keys_per_user=3)
    real_store = backfill_writer.store_token_if_missing
    calls = {"n": 0}

    def failing(key_id, token, *, commit=True):
        calls["n"] += 1
        if calls["n"] >= 6:  # the 2nd write of the 3rd batch
            raise OperationalError("UPDATE api_keys", {}, Exception("disk I/O error"))
        return real_store(key_id, token, commit=commit)

    monkeypatch.setattr(backfill_writer, "store_token_if_missing", failing)
    result = invoke(runner, "--batch-size", "2")
    assert result.exit_code == 2
    assert "database error" in result.stderr
    assert "4 written in 2 committed batch(es)" in result.stderr
    assert "current batch of 2 was rolled back" in result.stderr
    stored = {k: v for k, v in tokens().items() if v is not None}
    assert len(stored) == 4  # the third batch's first write was rolled back with it
    assert all(expected[k] == v for k, v in stored.items())
    monkeypatch.setattr(backfill_writer, "store_token_if_missing", real_store)
    assert invoke(runner).exit_code == 0
    assert tokens() == expected


def test_unknown_user_and_bad_batch_size_exit_2(runner, seeded):
    seeded(users=1, keys_per_user=1)
    result = invoke(runner, "--user", "nobody@example.com")
    assert result.exit_code == 2 and "nobody@example.com" in result.stderr
    assert invoke(runner, "--batch-size", "0").exit_code == 2


def test_items_added_between_pages_repeat_and_are_deduplicated(
    runner, sim, seeded, tokens, monkeypatch
):
    expected = seeded(users=3, keys_per_user=90)  # 270 keys: a 3-page global sweep
    original = LiteLLMClient.iter_key_pages

    def mutating(self, user_id=None, key_alias=None, **kw):
        for page in original(self, user_id, key_alias, **kw):
            yield page
            if user_id is None and key_alias is None and page.page == 1:
                for i in range(40):  # newer keys push page-1 items onto page 2
                    sim.add_key(key_alias=f"late-{i}", user_id="late@example.com")

    monkeypatch.setattr(LiteLLMClient, "iter_key_pages", mutating)
    result = invoke(runner, "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["mode"] == "global" and report["pages"] == 4  # the list grew by a page
    assert len(report["results"]) == 270  # one result per key despite repeated items
    assert tokens() == expected


def _page(keys, total_pages, page, **match):
    params = {"return_full_object": "true", "size": "100", "page": str(page), **match}
    responses.get(
        f"{BASE}/key/list",
        json={"keys": keys, "total_count": 0, "current_page": page, "total_pages": total_pages},
        match=[matchers.query_param_matcher(params)],
    )


def _item(alias, owner, token):
    return {"token": token, "key_alias": alias, "user_id": owner}


@responses.activate
def test_pages_that_repeat_and_shrink_never_crash(app, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    a1 = make_key(alice, "one", store_token=False, in_litellm=False)
    a2 = make_key(alice, "two", store_token=False, in_litellm=False)
    b1 = make_key(bob, "one", store_token=False, in_litellm=False)
    t_a1, t_a2, t_b1 = "a" * 64, "b" * 64, "c" * 64
    # Page 1 claims 2 pages; page 2 repeats a1 and says only 2 pages exist; b1 moved off
    # the shrinking list (a key deleted meanwhile) and is only found by the alias re-check.
    _page([_item(a1.alias, alice.email, t_a1), _item("x", "z", "d" * 64)], 2, 1)
    _page([_item(a1.alias, alice.email, t_a1), _item(a2.alias, alice.email, t_a2)], 2, 2)
    _page([_item(b1.alias, bob.email, t_b1)], 1, 1, key_alias=b1.alias)
    client = LiteLLMClient(LiteLLMSettings(BASE, "sk-master-test-0123456789", retries=0))
    with app.app_context():
        report = run_backfill(client)
    assert report.error is None and report.exit_status == 0
    assert [(r.key_id, r.outcome.value) for r in report.results] == [
        (a1.id, "resolved"),
        (a2.id, "resolved"),
        (b1.id, "resolved"),
    ]
    assert tokens() == {a1.id: t_a1, a2.id: t_a2, b1.id: t_b1}
    assert len(responses.calls) == 3


@responses.activate
def test_a_page_of_garbage_is_a_clean_exit_2(app, runner, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    make_key(alice, "one", store_token=False, in_litellm=False)
    make_key(bob, "one", store_token=False, in_litellm=False)
    responses.get(f"{BASE}/key/list", body="<html>login</html>", content_type="text/html")
    app.config["LITELLM_BASE_URL"] = BASE
    result = invoke(runner)
    assert result.exit_code == 2
    assert "HTML" in result.stderr
    assert set(tokens().values()) == {None}


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_exit_2(runner, sim, seeded, status):
    seeded(users=2, keys_per_user=1)
    sim.set_fault("/key/list", status)
    assert invoke(runner).exit_code == 2
