"""flask reconcile-keys per drift: what it reports, what it repairs, and its exit status."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app import audit
from app.extensions import db
from app.models import ApiKey, ApiKeyToken, AuditEvent, User
from app.services.create_timeout import TIMEOUT_ACTION, record_abandoned
from app.services.keys import PORTAL_TAG, alias_for, deployment_id


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_keys_in_sync_exit_0_and_record_litellms_copy(reconcile, make_user, make_key, sim, row):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    sim.keys[key.token]["spend"] = 0.25
    status, report = reconcile()
    assert status == 0 and report["exit_status"] == 0
    (result,) = report["results"]
    assert result["outcome"] == "in_sync" and result["key_id"] == key.id
    stored = row(key.id)
    assert stored.litellm_spend == 0.25 and stored.litellm_checked_at is not None


def test_key_deleted_in_litellm_is_marked_history_kept(
    reconcile, make_user, make_key, sim, row, client, sign_in
):
    alice = make_user("alice@example.com")
    kept = make_key(alice, "kept")
    gone = make_key(alice, "gone")
    sim.archive_key(gone.token)  # an admin deleted it in LiteLLM
    status, report = reconcile()
    assert status == 0  # fixed: the portal now says what LiteLLM says
    result = {r["key_id"]: r for r in report["results"]}
    assert result[gone.id]["outcome"] == "missing" and result[gone.id]["written"] is True
    assert result[kept.id]["outcome"] == "in_sync"
    stored = row(gone.id)
    assert stored.litellm_missing_since is not None
    assert stored.revoked_at is None and stored.litellm_token_id == gone.token  # history kept
    assert row(kept.id).litellm_missing_since is None
    # A second run reports it again without writing.
    status, again = reconcile()
    assert status == 0
    assert {r["key_id"]: r["written"] for r in again["results"]}[gone.id] is False
    # The owner sees it as deleted in LiteLLM; usage stays reachable.
    sign_in("alice@example.com")
    html = client.get("/keys").get_data(as_text=True)
    gone_row = html.split(f'id="key-row-{gone.id}"')[1].split("</tr>")[0]
    assert "deleted in LiteLLM" in gone_row and "View usage" in gone_row
    kept_row = html.split(f'id="key-row-{kept.id}"')[1].split("</tr>")[0]
    assert "deleted in LiteLLM" not in kept_row


def test_a_key_back_in_litellm_loses_the_mark(reconcile, make_user, make_key, sim, row):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    stored = dict(sim.keys[key.token])
    sim.archive_key(key.token)
    assert reconcile()[0] == 0 and row(key.id).litellm_missing_since is not None
    sim.keys[key.token] = stored  # restored from a LiteLLM backup
    status, report = reconcile()
    assert status == 0
    assert report["results"][0]["outcome"] == "updated"
    assert "back in LiteLLM" in report["results"][0]["changes"]
    assert row(key.id).litellm_missing_since is None


def test_budget_expiry_models_spend_drift_updates_the_portal_copy(
    reconcile, make_user, make_key, sim, row
):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    assert reconcile()[0] == 0  # first check records LiteLLM's copy
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    sim.keys[key.token].update(
        max_budget=20.0, models=["gpt-4o", "o3"], expires=_iso(later), spend=3.5
    )
    status, report = reconcile()
    assert status == 0
    (result,) = report["results"]
    assert result["outcome"] == "updated" and result["written"] is True
    assert len(result["changes"]) == 4
    stored = row(key.id)
    assert stored.max_budget == 20.0 and stored.models == "gpt-4o,o3"
    assert stored.expires_at.replace(tzinfo=UTC) == later and stored.litellm_spend == 3.5
    status, report = reconcile()
    assert status == 0 and report["results"][0]["outcome"] == "in_sync"


def test_expired_and_blocked_in_litellm(reconcile, make_user, make_key, sim, row):
    alice = make_user("alice@example.com")
    expired = make_key(alice, "old")
    blocked = make_key(alice, "blocked")
    sim.keys[expired.token]["expires"] = _iso(datetime.now(UTC) - timedelta(days=1))
    sim.keys[blocked.token]["blocked"] = True
    status, report = reconcile()
    assert status == 0
    result = {r["key_id"]: r["outcome"] for r in report["results"]}
    assert result == {expired.id: "expired", blocked.id: "blocked"}
    assert row(expired.id).status == "expired"
    assert row(blocked.id).litellm_blocked is True


def _abandoned(app, owner_id: int, request_id: str) -> None:
    """What the portal records when it made a key and could neither record nor delete it."""
    with app.app_context():
        record_abandoned(db.session.get(User, owner_id), request_id=request_id, alias=None,
                         token=None)  # fmt: skip


def test_only_keys_this_deployment_made_and_abandoned_are_deleted(
    app, reconcile, make_user, make_key, sim, audit_actions
):
    alice = make_user("alice@example.com")
    make_key(alice, "laptop")
    owner = User(litellm_user_id="alice@example.com")
    with app.app_context():
        ours = deployment_id()
    hour_ago = datetime.now(UTC) - timedelta(hours=1)

    def orphan(label, created_at=hour_ago, **metadata):
        return sim.add_key(key_alias=alias_for(owner, label), user_id="alice@example.com",
                           metadata=metadata, created_at=created_at)  # fmt: skip

    abandoned = orphan("ghost", created_by=PORTAL_TAG, portal_deployment=ours,
                       portal_request_id="a" * 32)  # fmt: skip
    forged = orphan("forged", created_by=PORTAL_TAG)  # anyone who can make keys can write this
    other_deployment = orphan("theirs", created_by=PORTAL_TAG, portal_deployment="db-other",
                              portal_request_id="b" * 32)  # fmt: skip
    never_abandoned = orphan("unknown", created_by=PORTAL_TAG, portal_deployment=ours,
                             portal_request_id="c" * 32)  # fmt: skip
    too_young = orphan("young", created_at=datetime.now(UTC), created_by=PORTAL_TAG,
                       portal_deployment=ours, portal_request_id="d" * 32)  # fmt: skip
    by_hand = orphan("by-hand")
    sim.add_key(key_alias="someone-elses-naming", user_id="alice@example.com")
    sim.add_key(key_alias=alias_for(User(litellm_user_id="x@y.z"), "a"), user_id="x@y.z")
    for request_id in ("a" * 32, "b" * 32, "d" * 32):
        _abandoned(app, alice.id, request_id)
    kept = [forged, other_deployment, never_abandoned, too_young, by_hand]

    status, report = reconcile()
    assert status == 1  # orphans left
    orphans = {r["alias"]: r for r in report["results"] if r["outcome"] == "orphan"}
    assert set(orphans) == {k["key_alias"] for k in [abandoned, *kept]}
    assert orphans[abandoned["key_alias"]]["key_id"] is None
    assert abandoned["token"] in sim.keys  # reporting deletes nothing

    status, report = reconcile("--delete-orphans")
    assert status == 1  # the others are still there
    results = {r["alias"]: r for r in report["results"]}
    assert results[abandoned["key_alias"]]["outcome"] == "orphan_deleted"
    assert abandoned["token"] not in sim.keys
    for key in kept:
        assert results[key["key_alias"]]["outcome"] == "orphan", key["key_alias"]
        assert key["token"] in sim.keys
    assert "another deployment" in results[other_deployment["key_alias"]]["detail"]
    assert "too young" in results[too_young["key_alias"]]["detail"]
    ((action, detail),) = [a for a in audit_actions() if a[0] == "key.orphan.delete"]
    assert json.loads(detail)["token_id"] == abandoned["token"]


def test_a_create_whose_cleanup_failed_is_recorded_and_then_deleted_by_reconcile(
    app, client, reconcile, make_user, sign_in, csrf_token, sim, failing_key_rows
):
    make_user("alice@example.com")
    sign_in("alice@example.com")
    sim.set_fault("/key/delete", 500)  # the portal cannot delete the key it could not record
    page = client.get("/keys").get_data(as_text=True)
    token = re.search(r'name="idempotency_token" value="([^"]+)"', page)[1]
    response = client.post("/keys", data={"name": "lost", "idempotency_token": token,
                                          "csrf_token": csrf_token()})  # fmt: skip
    assert response.status_code == 503
    sim.clear_faults()
    (made,) = [r for r in sim.keys.values() if r["user_id"] == "alice@example.com"]
    with sim.lock:  # no need to wait out the write timeout: the key is an hour old
        made["created_at"] = _iso(datetime.now(UTC) - timedelta(hours=1))

    status, report = reconcile("--delete-orphans")

    (result,) = [r for r in report["results"] if r["alias"] == made["key_alias"]]
    assert result["outcome"] == "orphan_deleted" and made["token"] not in sim.keys


def test_only_an_orphan_of_a_timed_out_portal_request_is_adopted(
    app, reconcile, make_user, sim, row, audit_actions
):
    alice = make_user("alice@example.com")
    owner = User(litellm_user_id="alice@example.com")
    with app.app_context():
        audit.record(
            TIMEOUT_ACTION,
            actor=None,
            target_user=db.session.get(User, alice.id),
            detail={"alias": alias_for(owner, "laptop"), "label": "laptop",
                    "request_id": "r" * 32, "outcome": "unknown"},
        )  # fmt: skip
    timed_out = sim.add_key(
        key_alias=alias_for(owner, "laptop"),
        user_id="alice@example.com",
        metadata={
            "created_by": PORTAL_TAG,
            "portal_label": "laptop",
            "portal_request_id": "r" * 32,
        },
        max_budget=5.0,
    )
    # Carries a request id too, but of no request that timed out: not provably the portal's.
    forged = sim.add_key(
        key_alias=alias_for(owner, "forged"),
        user_id="alice@example.com",
        metadata={
            "created_by": PORTAL_TAG,
            "portal_label": "forged",
            "portal_request_id": "f" * 32,
        },
    )
    status, dry = reconcile("--dry-run")
    assert status == 1 and {r["outcome"] for r in dry["results"]} == {"adopted", "orphan"}
    with app.app_context():
        assert db.session.query(ApiKey).count() == 0  # the dry run wrote nothing

    status, report = reconcile()
    assert status == 1  # the forged one is left, reported
    outcome = {r["alias"]: r for r in report["results"]}
    adopted = outcome[timed_out["key_alias"]]
    assert adopted["outcome"] == "adopted" and adopted["written"] is True
    assert outcome[forged["key_alias"]]["outcome"] == "orphan"
    key = row(adopted["key_id"])
    assert key.user_id == alice.id and key.label == "laptop" and key.max_budget == 5.0
    assert key.litellm_token_id == timed_out["token"] and key.request_id == "r" * 32
    assert "key.adopt" in [a for a, _ in audit_actions()]
    # Adopted keys are ordinary portal keys from then on.
    status, again = reconcile()
    assert {r["alias"]: r["outcome"] for r in again["results"]}[timed_out["key_alias"]] == "in_sync"


def test_revoked_but_live_and_owner_mismatch_are_drift_left(reconcile, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    revoked = make_key(alice, "revoked", revoked=True)  # the revoke never reached LiteLLM
    moved = make_key(alice, "moved", store_token=False)
    sim.keys[moved.token]["user_id"] = "bob@example.com"
    status, report = reconcile()
    assert status == 1
    result = {r["key_id"]: r["outcome"] for r in report["results"]}
    assert result == {revoked.id: "revoked_but_live", moved.id: "owner_mismatch"}


def test_a_key_regenerated_in_litellm_gets_its_new_token_adopted(
    reconcile, app, make_user, make_key, sim, row
):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    new_token = sim.regenerate_key(key.token)["token"]  # an admin, in LiteLLM's own UI
    status, report = reconcile("--dry-run")
    assert status == 1 and report["results"][0]["outcome"] == "regenerated"
    assert row(key.id).litellm_token_id == key.token  # a dry run changes nothing

    status, report = reconcile()
    (result,) = report["results"]
    assert status == 0 and result["outcome"] == "regenerated" and result["written"] is True
    assert result["token_id"] == new_token and row(key.id).litellm_token_id == new_token
    with app.app_context():
        tokens = db.session.execute(
            sa.select(ApiKeyToken.token_id, ApiKeyToken.source).where(
                ApiKeyToken.api_key_id == key.id
            )
        ).all()
        actions = list(db.session.scalars(sa.select(AuditEvent.action)))
    assert sorted(tokens) == sorted([(key.token, "backfill"), (new_token, "external")])
    assert "key.token.external" in actions
    status, again = reconcile()
    assert status == 0 and again["results"][0]["outcome"] == "in_sync"


def test_a_token_of_another_portal_key_under_the_alias_is_never_adopted(
    reconcile, make_user, make_key, sim, row
):
    alice = make_user("alice@example.com")
    laptop = make_key(alice, "laptop")
    other = make_key(alice, "other")
    with sim.lock:  # LiteLLM lists the other key's row under laptop's alias
        sim.archive_key(laptop.token)
        sim.keys[other.token]["key_alias"] = laptop.alias
    status, report = reconcile()
    result = {r["key_id"]: r for r in report["results"]}
    assert status == 1 and result[laptop.id]["outcome"] == "token_mismatch"
    assert row(laptop.id).litellm_token_id == laptop.token


def test_dry_run_changes_nothing_and_exits_1(reconcile, make_user, make_key, sim, row):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    sim.archive_key(key.token)
    status, report = reconcile("--dry-run")
    assert status == 1 and report["dry_run"] is True
    assert report["results"][0]["outcome"] == "missing"
    assert row(key.id).litellm_missing_since is None


def test_user_option_and_exit_2(reconcile, runner, make_user, make_key, sim, key_list_calls):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    make_key(alice, "laptop")
    gone = make_key(bob, "laptop")
    sim.archive_key(gone.token)
    status, report = reconcile("--user", "alice@example.com")
    assert status == 0 and [r["owner"] for r in report["results"]] == ["alice@example.com"]
    assert [q.get("user_id") for q in key_list_calls()] == ["alice@example.com"]
    unknown = runner.invoke(args=["reconcile-keys", "--user", "nobody@example.com"])
    assert unknown.exit_code == 2 and "no portal user" in unknown.output
    sim.set_fault("/key/list", 503)
    status, report = reconcile()
    assert status == 2 and "LiteLLM failed" in report["error"]


def test_text_report_lists_what_is_not_in_sync(runner, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    make_key(alice, "kept")
    gone = make_key(alice, "gone")
    sim.archive_key(gone.token)
    result = runner.invoke(args=["reconcile-keys"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("deleted in LiteLLM") and f"#{gone.id}" in lines[0]
    assert lines[1].startswith("reconcile-keys: 1 in sync, 1 deleted in LiteLLM")


def test_keys_page_shows_the_portal_copy_marked_when_litellm_is_down(
    reconcile, make_user, make_key, sim, client, sign_in
):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    sim.keys[key.token]["spend"] = 4.2
    assert reconcile()[0] == 0
    sign_in("alice@example.com")
    sim.set_fault("/key/list", 503)
    html = client.get("/keys").get_data(as_text=True)
    cells = html.split(f'id="key-row-{key.id}"')[1].split("</tr>")[0]
    # LiteLLM's spend is the current budget period's: shown there, never as lifetime spend.
    budget = cells.split('data-label="Budget">')[1].split("</td>")[0]
    assert "$4.20" in budget and "portal copy" in budget
    lifetime = cells.split('data-label="Spend">')[1].split("</td>")[0]
    assert "$4.20" not in lifetime


def test_dry_run_exits_0_when_only_known_drift_is_left(reconcile, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    sim.archive_key(key.token)
    assert reconcile()[0] == 0  # marked
    status, report = reconcile("--dry-run")
    assert status == 0  # nothing left to change: the mark is already there
    assert report["results"][0]["outcome"] == "missing"
    assert report["results"][0]["repair"] is False


def test_an_old_secret_in_its_rotation_grace_is_the_portals_not_an_orphan(
    app, reconcile, make_user, make_key, sim
):
    from app.services.rotation import rotate_key

    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop")
    with app.app_context():
        rotate_key(
            db.session.get(ApiKey, key.id), actor=db.session.get(User, alice.id), grace="24h"
        )
    live = [k for k in sim.keys.values() if k.get("user_id") == "alice@example.com"]
    assert len(live) == 2  # the new secret and the old one, renamed, until its grace ends
    status, report = reconcile()
    assert status == 0
    assert [(r["key_id"], r["outcome"]) for r in report["results"]] == [(key.id, "in_sync")]
