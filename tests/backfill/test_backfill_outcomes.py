"""backfill-tokens: each per-key outcome, exact matching, --verify, --dry-run, idempotence."""

from __future__ import annotations

import json
import unicodedata

import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey
from app.services.keys import alias_for


def run(runner, *args: str):
    result = runner.invoke(args=["backfill-tokens", "--json", *args])
    report = json.loads(result.stdout)
    return result, report


def by_id(report) -> dict[int, dict]:
    return {r["key_id"]: r for r in report["results"]}


def set_token(app, key_id: int, token: str | None) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(ApiKey).where(ApiKey.id == key_id).values(litellm_token_id=token)
        )
        db.session.commit()


def test_resolves_stores_and_exits_0(runner, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    k1 = make_key(alice, "laptop", store_token=False)
    k2 = make_key(bob, "ci", store_token=False)
    result, report = run(runner)
    assert result.exit_code == 0
    assert {r["outcome"] for r in report["results"]} == {"resolved"}
    assert report["written"] == 2
    assert tokens() == {k1.id: k1.token, k2.id: k2.token}


def test_text_report_lists_each_key_and_a_summary(runner, make_user, make_key):
    alice = make_user("alice@example.com")
    make_key(alice, "laptop", store_token=False)
    gone = make_key(alice, "gone", store_token=False, in_litellm=False)
    result = runner.invoke(args=["backfill-tokens"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("resolved") and alias_for(alice, "laptop") in line for line in lines)
    assert any(line.startswith("not found in LiteLLM") and f"#{gone.id}" in line for line in lines)
    assert lines[-1].startswith("backfill-tokens: 1 resolved, 1 not found in LiteLLM (1 written")


def test_not_found_is_listed_and_exits_1(runner, make_user, make_key, tokens):
    alice = make_user("alice@example.com")
    missing = make_key(alice, "old", store_token=False, in_litellm=False)
    result, report = run(runner)
    assert result.exit_code == 1
    assert by_id(report)[missing.id]["outcome"] == "not_found"
    assert tokens()[missing.id] is None


def test_ambiguous_alias_writes_nothing(runner, sim, make_user, make_key, tokens):
    alice = make_user("alice@example.com")
    key = make_key(alice, "twin", store_token=False)
    # A second LiteLLM key with the same alias and owner (older proxies allowed duplicates).
    twin = dict(sim.keys[key.token], token="f" * 64)
    sim.keys[twin["token"]] = twin
    result, report = run(runner)
    assert result.exit_code == 1
    assert by_id(report)[key.id]["outcome"] == "ambiguous"
    assert tokens()[key.id] is None


def test_conflict_when_token_already_on_another_row(app, runner, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    pending = make_key(alice, "laptop", store_token=False)
    other = make_key(bob, "copy", in_litellm=False)
    set_token(app, other.id, pending.token)
    result, report = run(runner)
    assert result.exit_code == 1
    entry = by_id(report)[pending.id]
    assert entry["outcome"] == "conflict" and f"#{other.id}" in entry["detail"]
    assert tokens() == {pending.id: None, other.id: pending.token}


def test_owner_mismatch_in_a_per_user_sweep(
    runner, sim, make_user, make_key, tokens, key_list_calls
):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop", store_token=False, in_litellm=False)
    sim.add_key(key_alias=key.alias, user_id="mallory@example.com")
    result, report = run(runner)
    assert result.exit_code == 1
    assert report["mode"] == "per-user"
    entry = by_id(report)[key.id]
    assert entry["outcome"] == "owner_mismatch" and "mallory@example.com" in entry["detail"]
    assert tokens()[key.id] is None
    # One sweep of alice's keys, then one alias lookup for the leftover.
    assert [sorted(q) for q in key_list_calls()] == [
        ["page", "return_full_object", "size", "user_id"],
        ["key_alias", "page", "return_full_object", "size"],
    ]


def test_owner_mismatch_in_a_global_sweep(runner, sim, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    key = make_key(alice, "laptop", store_token=False, in_litellm=False)
    fine = make_key(bob, "ci", store_token=False)
    sim.add_key(key_alias=key.alias, user_id="ALICE@example.com")  # case differs: not alice
    result, report = run(runner)
    assert report["mode"] == "global"
    assert result.exit_code == 1
    assert by_id(report)[key.id]["outcome"] == "owner_mismatch"
    assert tokens() == {key.id: None, fine.id: fine.token}


def test_revoked_keys_are_skipped_unless_asked(runner, make_user, make_key, tokens):
    alice = make_user("alice@example.com")
    revoked = make_key(alice, "old", store_token=False, revoked=True)
    result, report = run(runner)
    assert result.exit_code == 0
    assert by_id(report)[revoked.id]["outcome"] == "skipped"
    assert tokens()[revoked.id] is None
    result, report = run(runner, "--include-revoked")
    assert result.exit_code == 0
    assert by_id(report)[revoked.id]["outcome"] == "resolved"
    assert tokens()[revoked.id] == revoked.token


def test_aliases_match_exactly(runner, sim, make_user, make_key, tokens):
    alice = make_user("alice@example.com")
    spaced = make_key(alice, "a", alias="Alice  Laptop ü ", store_token=False)
    cased = make_key(alice, "b", alias="Alice Phone", store_token=False, in_litellm=False)
    sim.add_key(key_alias="alice phone", user_id="alice@example.com")
    nfc = unicodedata.normalize("NFC", "café")
    composed = make_key(alice, "c", alias=nfc, store_token=False, in_litellm=False)
    sim.add_key(key_alias=unicodedata.normalize("NFD", "café"), user_id="alice@example.com")
    result, report = run(runner)
    results = by_id(report)
    assert results[spaced.id]["outcome"] == "resolved"
    assert results[cased.id]["outcome"] == "not_found"
    assert results[composed.id]["outcome"] == "not_found"
    assert tokens() == {spaced.id: spaced.token, cased.id: None, composed.id: None}
    assert result.exit_code == 1


def test_verify_dry_run_reports_mismatches_without_changing_them(
    app, runner, make_user, make_key, tokens
):
    alice = make_user("alice@example.com")
    good = make_key(alice, "good")
    bad = make_key(alice, "bad")
    set_token(app, bad.id, "0" * 64)
    result, report = run(runner)
    assert result.exit_code == 0 and report["results"] == []  # without --verify: nothing to do
    result, report = run(runner, "--verify", "--dry-run")
    assert result.exit_code == 1
    results = by_id(report)
    assert results[good.id]["outcome"] == "verified"
    assert results[bad.id]["outcome"] == "mismatch"
    assert results[bad.id]["token_id"] == bad.token
    assert tokens() == {good.id: good.token, bad.id: "0" * 64}


def test_verify_adopts_the_owners_key_listed_under_the_alias(
    app, runner, make_user, make_key, tokens
):
    """The stored id is not LiteLLM's for the alias, and LiteLLM's key there is the same
    owner's: the key was regenerated outside the portal, so its id joins the key's lineage."""
    alice = make_user("alice@example.com")
    good = make_key(alice, "good")
    bad = make_key(alice, "bad")
    set_token(app, bad.id, "0" * 64)
    result, report = run(runner, "--verify")
    assert result.exit_code == 0
    results = by_id(report)
    assert results[good.id]["outcome"] == "verified"
    assert results[bad.id]["outcome"] == "adopted"
    assert tokens() == {good.id: good.token, bad.id: bad.token}


def test_dry_run_writes_nothing_and_reports_the_same(runner, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    make_key(alice, "laptop", store_token=False)
    make_key(alice, "gone", store_token=False, in_litellm=False)
    make_key(bob, "ci", store_token=False)
    result, dry = run(runner, "--dry-run")
    assert result.exit_code == 1
    assert dry["dry_run"] is True and dry["written"] == 0
    assert set(tokens().values()) == {None}
    result, real = run(runner)
    assert result.exit_code == 1
    outcomes = [(r["key_id"], r["outcome"], r["token_id"]) for r in dry["results"]]
    assert outcomes == [(r["key_id"], r["outcome"], r["token_id"]) for r in real["results"]]
    assert real["written"] == 2


def test_second_run_changes_nothing_and_exits_0(
    runner, make_user, make_key, tokens, key_list_calls
):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    make_key(alice, "laptop", store_token=False)
    make_key(bob, "ci", store_token=False)
    assert run(runner)[0].exit_code == 0
    after_first = tokens()
    calls = len(key_list_calls())
    result, report = run(runner)
    assert result.exit_code == 0
    assert report["results"] == [] and report["written"] == 0
    assert tokens() == after_first
    assert len(key_list_calls()) == calls  # nothing pending: LiteLLM is not even asked
    text = runner.invoke(args=["backfill-tokens"])
    assert text.exit_code == 0 and "nothing to do" in text.stdout


def test_user_option_limits_the_run(runner, make_user, make_key, tokens):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    a = make_key(alice, "laptop", store_token=False)
    b = make_key(bob, "ci", store_token=False)
    result, report = run(runner, "--user", "alice@example.com")
    assert result.exit_code == 0
    assert [r["key_id"] for r in report["results"]] == [a.id]
    assert tokens() == {a.id: a.token, b.id: None}
