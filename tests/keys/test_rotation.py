"""Rotate secret: a new secret shown once, the old one kept for the grace period, on an
open-source proxy (no /key/regenerate), with every failure undone (simulator over HTTP)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, ApiKeyToken, AuditEvent, utcnow
from app.services.rotation import retired_alias

HX = {"HX-Request": "true"}
SEEN_RE = re.compile(r'name="rotation_mark" value="([^"]*)"')


@pytest.fixture
def rotate(client, csrf_token):
    """``rotate(key_id, grace="1h")`` → the POST response (form read from the confirm step)."""

    def post(key_id: int, grace: str = "1h", *, headers=None, form=None):
        if form is None:
            page = client.get(f"/keys/{key_id}/rotate").get_data(as_text=True)
            match = SEEN_RE.search(page)
            assert match, page
            form = {"csrf_token": csrf_token(), "grace": grace, "rotation_mark": match.group(1)}
        return client.post(f"/keys/{key_id}/rotate", data=form, headers=headers or {})

    return post


def lineage(app, key_id: int) -> list[ApiKeyToken]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(ApiKeyToken)
                .where(ApiKeyToken.api_key_id == key_id)
                .order_by(ApiKeyToken.became_current_at, ApiKeyToken.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def current_token(app, key_id: int) -> str:
    with app.app_context():
        return db.session.get(ApiKey, key_id).litellm_token_id


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def created_key(client, create_form, secret_in, rows) -> ApiKey:
    response = client.post("/keys", data=create_form(name="laptop", max_budget="10"))
    assert response.status_code == 201
    return rows()[-1]


def test_rotate_shows_a_new_secret_once_and_keeps_the_old_one_for_the_grace(
    app, client, alice, create_form, secret_in, rows, rotate, sim
):
    key = created_key(client, create_form, secret_in, rows)
    old_token = key.litellm_token_id
    sim.add_usage(
        token=old_token, date=utcnow().date(), model="m", provider="p",
        prompt_tokens=1, completion_tokens=1, spend=2.5,
    )  # fmt: skip

    response = rotate(key.id, "1h")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = secret_in(response)
    new_token = hashlib.sha256(secret.encode()).hexdigest()
    assert new_token != old_token and current_token(app, key.id) == new_token
    body = response.get_data(as_text=True)
    assert "rotated" in body and "old secret keeps working until" in body
    # LiteLLM: the new key holds the portal's alias, the old one works under a retired alias.
    assert sim.keys[new_token]["key_alias"] == key.alias
    assert sim.keys[new_token]["user_id"] == "alice@example.com"
    assert sim.keys[new_token]["max_budget"] == 10
    # The budget still holds: spent 2.5, and half of the 7.5 left is the old secret's in its grace.
    assert sim.keys[new_token]["spend"] == pytest.approx(2.5 + 3.75)
    assert sim.keys[old_token]["max_budget"] == pytest.approx(2.5 + 3.75)
    assert sim.keys[old_token]["key_alias"] == retired_alias(key.alias, old_token)
    tokens = lineage(app, key.id)
    assert [(t.token_id, t.source) for t in tokens] == [
        (old_token, "created"),
        (new_token, "rotated"),
    ]
    old = tokens[0]
    assert old.retired_at is not None and old.deleted_at is None
    grace = old.delete_after.replace(tzinfo=dt.UTC) - old.retired_at.replace(tzinfo=dt.UTC)
    assert grace == dt.timedelta(hours=1)
    assert audit_actions(app) == ["key.create", "key.rotate"]
    # Shown once: the list afterwards has no secret.
    assert secret_in(client.get("/keys")) is None


def test_the_budget_period_and_rate_limits_carry_over_to_the_new_secret(
    client, alice, create_form, secret_in, rows, rotate, sim
):
    response = client.post(
        "/keys", data=create_form(name="laptop", max_budget="10", budget_period="monthly")
    )
    assert response.status_code == 201
    key = rows()[-1]
    with sim.lock:  # an admin set rate limits on the key in LiteLLM
        sim.keys[key.litellm_token_id].update(rpm_limit=60, tpm_limit=100_000)

    secret = secret_in(rotate(key.id, "none"))

    new = sim.keys[hashlib.sha256(secret.encode()).hexdigest()]
    assert (new["max_budget"], new["budget_duration"]) == (10, "1mo")
    assert (new["rpm_limit"], new["tpm_limit"]) == (60, 100_000)
    assert new["budget_reset_at"] is not None


def test_grace_none_deletes_the_old_secret_at_once(app, client, alice, make_key, rotate, sim):
    key = make_key(alice, "laptop")
    response = rotate(key.id, "none", headers=HX)
    assert response.status_code == 200
    assert "The old secret no longer works." in response.get_data(as_text=True)
    assert key.token not in sim.keys and key.token in sim.deleted
    old = lineage(app, key.id)[0]
    assert old.deleted_at is not None
    assert audit_actions(app) == ["key.rotate", "key.token.delete"]


def test_a_double_submitted_rotation_makes_one_new_key(
    app, client, alice, make_key, rotate, csrf_token, secret_in, sim
):
    key = make_key(alice, "laptop")
    page = client.get(f"/keys/{key.id}/rotate").get_data(as_text=True)
    form = {"csrf_token": csrf_token(), "grace": "1h", "rotation_mark": SEEN_RE.search(page)[1]}
    first = rotate(key.id, form=form)
    second = rotate(key.id, form=form)
    assert secret_in(first) is not None
    assert second.status_code == 200 and secret_in(second) is None
    assert "already rotated" in second.get_data(as_text=True)
    assert sim.count("/key/generate", "POST") == 1
    assert len(lineage(app, key.id)) == 2


@pytest.mark.parametrize(("state", "says"), [("revoked", "is revoked"), ("expired", "has expired")])
def test_a_revoked_or_expired_key_cannot_be_rotated(
    app, client, alice, make_key, rotate, csrf_token, secret_in, sim, state, says
):
    key = make_key(alice, "laptop", revoked=state == "revoked")
    if state == "expired":
        with app.app_context():
            db.session.get(ApiKey, key.id).expires_at = utcnow() - dt.timedelta(days=1)
            db.session.commit()
    assert "cannot be rotated" in client.get(f"/keys/{key.id}/rotate").get_data(as_text=True)
    form = {"csrf_token": csrf_token(), "grace": "1h", "rotation_mark": ""}
    response = rotate(key.id, form=form)
    assert response.status_code == 409
    assert says in response.get_data(as_text=True)
    assert secret_in(response) is None
    assert sim.count("/key/generate", "POST") == sim.count("/key/update", "POST") == 0


def test_an_unknown_grace_is_refused_without_asking_litellm(client, alice, make_key, rotate, sim):
    key = make_key(alice, "laptop")
    response = rotate(key.id, "forever")
    assert response.status_code == 400
    assert "Choose how long the old secret keeps working." in response.get_data(as_text=True)
    assert sim.count("/key/update", "POST") == 0


def test_litellm_garbling_its_answer_after_making_the_new_key_leaves_no_orphan(
    app, client, alice, make_key, rotate, secret_in, sim
):
    key = make_key(alice, "laptop")
    sim.set_garbage("/key/generate", "truncated")  # the key is made, the answer is cut

    response = rotate(key.id, "1h")

    assert response.status_code == 502
    assert secret_in(response) is None
    # Only the old key is live, under the portal's alias again; nothing changed in the portal.
    live = [r for r in sim.keys.values() if r["user_id"] == "alice@example.com"]
    assert [(r["token"], r["key_alias"]) for r in live] == [(key.token, key.alias)]
    assert current_token(app, key.id) == key.token
    assert [t.retired_at for t in lineage(app, key.id)] == [None]
    sim.clear_faults()
    assert secret_in(rotate(key.id, "1h")) is not None  # the claim was released


def test_litellm_refusing_the_new_key_gives_the_old_key_its_alias_back(
    app, client, alice, make_key, rotate, sim
):
    key = make_key(alice, "laptop")
    sim.set_fault("/key/generate", 500, times=1)
    response = rotate(key.id, "1h")
    assert response.status_code == 502
    assert "LiteLLM could not rotate the key" in response.get_data(as_text=True)
    assert sim.keys[key.token]["key_alias"] == key.alias
    assert len(sim.keys) == 1


def test_a_database_failure_after_the_new_key_deletes_it_again(
    app, client, alice, make_key, rotate, secret_in, sim
):
    key = make_key(alice, "laptop")

    def refuse(session, flush_context, instances):
        if any(isinstance(o, ApiKeyToken) and o.source == "rotated" for o in session.new):
            raise sa.exc.OperationalError("INSERT", {}, Exception("database went away"))

    sa.event.listen(sa.orm.Session, "before_flush", refuse)
    try:
        response = rotate(key.id, "1h")
    finally:
        sa.event.remove(sa.orm.Session, "before_flush", refuse)
    assert response.status_code == 503
    assert secret_in(response) is None
    assert list(sim.keys) == [key.token]
    assert sim.keys[key.token]["key_alias"] == key.alias
    assert current_token(app, key.id) == key.token


def test_the_open_source_proxy_refuses_regenerate_and_rotation_still_works(
    app, client, alice, make_key, rotate, secret_in, sim, sim_server
):
    import requests

    key = make_key(alice, "laptop")
    refused = requests.post(
        f"{sim_server.base_url}/key/regenerate",
        json={"key": key.token},
        headers={"Authorization": f"Bearer {app.config['LITELLM_MASTER_KEY']}"},
        timeout=5,
    )
    assert refused.status_code == 500
    assert "Enterprise feature" in refused.json()["error"]["message"]
    assert secret_in(rotate(key.id, "1h")) is not None


def test_an_admin_rotates_a_users_key_and_sees_the_secret_once(
    app, client, make_user, make_key, sign_in, csrf_token, secret_in, sim
):
    bob = make_user("bob@example.com")
    make_user("admin@example.com", is_admin=True)
    key = make_key(bob, "ci")
    sign_in("admin@example.com")
    confirm = client.get(f"/admin/users/{bob.id}/keys/{key.id}/rotate")
    assert confirm.status_code == 200
    seen = SEEN_RE.search(confirm.get_data(as_text=True))[1]
    response = client.post(
        f"/admin/users/{bob.id}/keys/{key.id}/rotate",
        data={"csrf_token": csrf_token(path="/admin/usage"), "grace": "24h", "rotation_mark": seen},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert secret_in(response) is not None
    assert "no-store" in response.headers["Cache-Control"]
    with app.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "key.rotate"))
        assert json.loads(event.detail)["by_owner"] is False
        assert event.actor.email == "admin@example.com"


def test_rotate_needs_the_csrf_token(client, alice, make_key, sim):
    key = make_key(alice, "laptop")
    response = client.post(f"/keys/{key.id}/rotate", data={"grace": "1h"})
    assert response.status_code == 400
    assert sim.count("/key/update", "POST") == 0


def test_a_lost_answer_to_the_rename_gives_the_old_key_its_alias_back(
    app, client, alice, make_key, rotate, sim
):
    key = make_key(alice, "laptop")
    sim.set_garbage("/key/update", "truncated")  # renamed in LiteLLM, the answer is cut
    response = rotate(key.id, "1h")
    sim.clear_faults()
    assert response.status_code == 502
    assert sim.count("/key/generate", "POST") == 0
    # The restoring rename was garbled too, but LiteLLM did it.
    assert sim.keys[key.token]["key_alias"] == key.alias
