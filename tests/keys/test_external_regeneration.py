"""Keys regenerated outside the portal (simulator in Enterprise mode) join the lineage, and
revoke deletes whatever secret of the key is live (simulator over HTTP)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
import sqlalchemy as sa
from test_rotation import audit_actions, current_token, lineage

from app.extensions import db
from app.models import ApiKey, AuditEvent


@pytest.fixture
def regenerate(app, sim, sim_server):
    """``regenerate(token)`` → the new token: what an admin does in LiteLLM's own UI."""
    sim.set_enterprise(True)

    def call(token: str) -> str:
        answer = requests.post(
            f"{sim_server.base_url}/key/{token}/regenerate",
            headers={"Authorization": f"Bearer {app.config['LITELLM_MASTER_KEY']}"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["token_id"]

    return call


def test_the_keys_page_adopts_a_key_regenerated_in_litellm(
    app, client, alice, make_key, regenerate, sim
):
    key = make_key(alice, "laptop")
    new = regenerate(key.token)
    assert key.token not in sim.keys  # Enterprise archives the old hash at once

    assert client.get("/keys").status_code == 200

    assert current_token(app, key.id) == new
    tokens = lineage(app, key.id)
    assert [(t.token_id, t.source) for t in tokens] == [(key.token, "backfill"), (new, "external")]
    assert tokens[0].retired_at is not None and tokens[0].deleted_at is not None
    assert "key.token.external" in audit_actions(app)
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "key.token.external")
        )
        assert json.loads(event.detail) == {"old_token_id": key.token[:8], "new_token_id": new[:8]}


def test_a_key_under_the_alias_owned_by_someone_else_is_not_adopted(
    app, client, alice, make_key, sim
):
    key = make_key(alice, "laptop", in_litellm=False)
    stranger = sim.add_key(key_alias=key.alias, user_id="mallory@example.com")
    client.get("/keys")
    assert current_token(app, key.id) == key.token
    assert stranger["token"] in sim.keys
    assert "key.token.external" not in audit_actions(app)


def test_revoke_after_an_unnoticed_regeneration_deletes_the_live_key(
    app, client, alice, make_key, regenerate, csrf_token, sim
):
    key = make_key(alice, "laptop")
    token = csrf_token()  # before the regeneration: the keys page would notice it
    new = regenerate(key.token)

    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": token})

    assert response.status_code == 303
    assert new not in sim.keys and new in sim.deleted  # the regenerated secret stops working
    assert not [r for r in sim.keys.values() if r["key_alias"] == key.alias]
    with app.app_context():
        assert db.session.get(ApiKey, key.id).revoked_at is not None
    assert {"key.token.external", "key.revoke"} <= set(audit_actions(app))


def test_revoke_leaves_a_same_alias_key_of_another_owner_alone(
    app, client, alice, make_key, csrf_token, sim
):
    key = make_key(alice, "laptop", in_litellm=False)
    stranger = sim.add_key(key_alias=key.alias, user_id="mallory@example.com")
    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()})
    assert response.status_code == 303
    assert stranger["token"] in sim.keys


def test_a_revoke_whose_answer_is_lost_looks_before_answering(
    app, client, alice, make_key, csrf_token, sim
):
    key = make_key(alice, "laptop")
    sim.set_fault("/key/delete", 504, times=1)  # LiteLLM's answer never arrives
    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()})
    assert response.status_code == 303
    assert key.token not in sim.keys  # found live by the look-up, and deleted
    with app.app_context():
        assert db.session.get(ApiKey, key.id).revoked_at is not None


def test_a_revoke_that_cannot_find_out_changes_nothing(
    app, client, alice, make_key, csrf_token, sim
):
    key = make_key(alice, "laptop")
    token = csrf_token()
    sim.set_fault("/key/delete", 504)
    sim.set_fault("/key/list", 503)
    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 503
    assert key.token in sim.keys
    with app.app_context():
        assert db.session.get(ApiKey, key.id).revoked_at is None


def test_revoke_deletes_old_secrets_still_in_their_grace(
    app, client, alice, make_key, csrf_token, sim
):
    from test_rotation import SEEN_RE

    key = make_key(alice, "laptop")
    page = client.get(f"/keys/{key.id}/rotate").get_data(as_text=True)
    form = {"csrf_token": csrf_token(), "grace": "24h", "rotation_mark": SEEN_RE.search(page)[1]}
    client.post(f"/keys/{key.id}/rotate", data=form)
    assert key.token in sim.keys  # in its grace period
    client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()})
    assert not [r for r in sim.keys.values() if r["user_id"] == "alice@example.com"]
    assert all(t.deleted_at is not None for t in lineage(app, key.id))


def test_backfill_verify_adopts_a_regenerated_key(app, runner, alice, make_key, regenerate):
    key = make_key(alice, "laptop")
    new = regenerate(key.token)
    result = runner.invoke(args=["backfill-tokens", "--verify", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["counts"]["adopted"] == 1 and report["counts"]["mismatch"] == 0
    assert current_token(app, key.id) == new


def test_backfill_verify_dry_run_only_reports_the_mismatch(
    app, runner, alice, make_key, regenerate
):
    key = make_key(alice, "laptop")
    regenerate(key.token)
    result = runner.invoke(args=["backfill-tokens", "--verify", "--dry-run", "--json"])
    assert json.loads(result.output)["counts"]["mismatch"] == 1
    assert current_token(app, key.id) == key.token


def test_the_maintenance_command_adopts_regenerated_keys(
    app, runner, alice, make_key, regenerate, sim
):
    key = make_key(alice, "laptop")
    new = regenerate(key.token)
    result = runner.invoke(args=["retire-tokens"])
    assert result.exit_code == 0, result.output
    assert "1 key(s) regenerated outside the portal adopted" in result.output
    assert current_token(app, key.id) == new
    assert lineage(app, key.id)[0].deleted_at is not None  # the old hash: already gone


def test_the_usage_views_alias_lookup_adopts_a_regenerated_key(
    app, client, alice, make_key, regenerate, sim
):
    key = make_key(alice, "laptop")
    make_key(alice, "older", store_token=False)  # its token id is looked up by alias
    new = regenerate(key.token)
    sim.add_usage(
        token=new, date=dt.datetime.now(dt.UTC).date(), model="m", provider="p",
        prompt_tokens=1, completion_tokens=1, spend=0.75,
    )  # fmt: skip
    html = client.get("/usage?preset=today").get_data(as_text=True)
    assert current_token(app, key.id) == new
    assert "$0.75" in html  # the regenerated secret's usage counts as the key's
