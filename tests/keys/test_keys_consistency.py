"""Every failure path leaves the portal DB and LiteLLM (the simulator) consistent."""

from __future__ import annotations

import hashlib
import logging

from app.extensions import db
from app.models import ApiKey, User
from app.services.keys import alias_for, deployment_id
from app.services.litellm import LiteLLMClient


def _live_aliases(sim) -> list[str]:
    return sorted(k["key_alias"] for k in sim.keys.values())


def test_litellm_rejection_writes_no_row(client, alice, create_form, sim, rows):
    taken = alias_for(alice, "laptop")
    sim.add_key(key_alias=taken, user_id="someone-else@example.com")
    response = client.post("/keys", data=create_form(name="laptop"))
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "“laptop” cannot be used for a new key" in html
    # LiteLLM's message names the alias, and so its owner: never shown.
    assert "already exists" not in html and taken not in html and "someone-else" not in html
    assert 'id="key-create-error"' in html
    assert rows() == []
    assert _live_aliases(sim) == [taken]  # only the pre-existing one


def test_litellm_unreachable_on_create(client, alice, create_form, sim, sim_server, rows):
    data = create_form(name="laptop")
    sim_server.shutdown()
    try:
        response = client.post("/keys", data=data)
    finally:
        sim_server.restart()
    assert response.status_code == 503
    assert "LiteLLM is unreachable" in response.get_data(as_text=True)
    assert 'value="laptop"' in response.get_data(as_text=True)
    assert rows() == []
    assert sim.keys == {}


def test_litellm_server_error_on_create(client, alice, create_form, sim, rows):
    sim.set_fault("/key/generate", 500)
    response = client.post("/keys", data=create_form(name="laptop"))
    assert response.status_code == 502
    assert "could not create the key" in response.get_data(as_text=True)
    assert rows() == [] and sim.keys == {}


def test_db_failure_after_create_deletes_the_litellm_key(
    client, alice, create_form, sim, rows, failing_key_rows
):
    response = client.post("/keys", data=create_form(name="laptop"))
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "could not save the new key" in html
    assert 'id="new-key-secret"' not in html
    assert rows() == []
    assert sim.keys == {}  # deleted again: no orphan
    assert sim.count("/key/generate") == 1 and sim.count("/key/delete") == 1


def test_failed_cleanup_is_reported_and_logged(
    client, alice, create_form, sim, rows, failing_key_rows, caplog
):
    sim.set_fault("/key/delete", 503)
    with caplog.at_level(logging.ERROR, logger="app"):
        response = client.post("/keys", data=create_form(name="laptop"))
    assert response.status_code == 503
    assert "administrator" in response.get_data(as_text=True)
    assert rows() == []
    (orphan,) = sim.keys.values()
    assert any(
        "ORPHAN" in r.getMessage() and orphan["token"] in r.getMessage() for r in caplog.records
    )


def test_integrity_error_from_slug_collision_cleans_up(
    client, app, alice, make_user, make_key, create_form, sim, rows
):
    # A revoked key of someone else still owns the alias in the portal's table.
    other = make_user("alice-example.com")
    make_key(other, "laptop", alias=alias_for(alice, "laptop"), in_litellm=False, revoked=True)
    response = client.post("/keys", data=create_form(name="laptop"))
    assert response.status_code == 503
    assert [r.user_id for r in rows()] == [other.id]
    assert sim.keys == {}


def test_double_submission_creates_one_key(client, alice, create_form, secret_in, sim, rows):
    data = create_form(name="laptop")
    first = client.post("/keys", data=data)
    assert first.status_code == 201 and secret_in(first)
    second = client.post("/keys", data=data)
    html = second.get_data(as_text=True)
    assert second.status_code == 200
    assert "This key was already created" in html
    assert secret_in(second) is None and secret_in(first) not in html
    assert 'id="key-list"' in html
    assert sim.count("/key/generate") == 1
    assert len(rows()) == 1 and len(sim.keys) == 1


def _winner(app, alice_id: int, token: str, label: str, sim) -> None:
    """Commit the row a concurrent identical submission would have written first."""
    alias = alias_for(User(litellm_user_id="alice@example.com"), label)
    stored = sim.add_key(key_alias=alias, user_id="alice@example.com")
    with app.app_context():
        db.session.add(
            ApiKey(
                user_id=alice_id,
                alias=alias,
                label=label,
                litellm_token_id=stored["token"],
                idempotency_token=token,
            )
        )
        db.session.commit()


def test_race_lost_at_commit_deletes_the_losers_key(
    client, app, alice, create_form, sim, rows, monkeypatch
):
    data = create_form(name="laptop")
    real = LiteLLMClient.generate_key

    def generate_then_lose(self, **kwargs):
        generated = real(self, **kwargs)
        _winner(app, alice.id, data["idempotency_token"], "laptop-winner", sim)
        return generated

    monkeypatch.setattr(LiteLLMClient, "generate_key", generate_then_lose)
    response = client.post("/keys", data=data)
    assert response.status_code == 200
    assert "This key was already created" in response.get_data(as_text=True)
    assert [r.label for r in rows()] == ["laptop-winner"]
    assert _live_aliases(sim) == [alias_for(alice, "laptop-winner")]  # loser's key deleted


def test_race_lost_at_litellm_reports_the_winner(
    client, app, alice, create_form, sim, rows, monkeypatch
):
    data = create_form(name="laptop")
    real = LiteLLMClient.generate_key

    def winner_first(self, **kwargs):
        _winner(app, alice.id, data["idempotency_token"], "laptop", sim)
        return real(self, **kwargs)  # LiteLLM refuses the duplicate alias

    monkeypatch.setattr(LiteLLMClient, "generate_key", winner_first)
    response = client.post("/keys", data=data)
    assert response.status_code == 200
    assert "This key was already created" in response.get_data(as_text=True)
    assert len(rows()) == 1 and len(sim.keys) == 1
    assert rows()[0].litellm_token_id in sim.keys


def test_revoke_with_litellm_unreachable_changes_nothing(
    client, alice, make_key, csrf_token, sim, sim_server, rows
):
    key = make_key(alice, "laptop")
    token = csrf_token()
    sim_server.shutdown()
    try:
        response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": token})
    finally:
        sim_server.restart()
    assert response.status_code == 503
    assert "LiteLLM is unreachable" in response.get_data(as_text=True)
    assert rows()[0].revoked_at is None
    assert key.token in sim.keys


def test_revoke_server_error_changes_nothing(client, alice, make_key, csrf_token, sim, rows):
    key = make_key(alice, "laptop")
    sim.set_fault("/key/delete", 500)
    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()})
    assert response.status_code == 502
    assert rows()[0].revoked_at is None and key.token in sim.keys


def test_created_row_matches_the_simulator(client, app, alice, create_form, secret_in, sim, rows):
    response = client.post(
        "/keys",
        data=create_form(
            name="ci.bot_1", max_budget="5", duration="30d", models="mock-gpt, mock-claude"
        ),
    )
    secret = secret_in(response)
    (row,) = rows()
    with app.app_context():
        deployment = deployment_id()
    assert row.litellm_token_id == hashlib.sha256(secret.encode()).hexdigest()
    live = sim.keys[row.litellm_token_id]
    assert live["key_alias"] == row.alias == alias_for(alice, "ci.bot_1")
    assert live["user_id"] == "alice@example.com"
    assert live["models"] == ["mock-gpt", "mock-claude"] and row.models == "mock-gpt,mock-claude"
    assert live["max_budget"] == 5.0 and row.max_budget == 5.0
    assert live["metadata"] == {
        "created_by": "litellm-key-portal",
        "portal_user": "alice@example.com",
        "portal_label": "ci.bot_1",
        # The request that made it, also on the row: proves which request a key came from.
        "portal_request_id": row.request_id,
        # Which deployment made it: reconcile deletes only its own deployment's keys.
        "portal_deployment": deployment,
    }
    assert row.request_id and len(row.request_id) == 32
    assert row.expires_at is not None and row.key_prefix == f"sk-...{secret[-4:]}"
    with app.app_context():
        assert db.session.get(User, alice.id).keys[0].status == "active"
