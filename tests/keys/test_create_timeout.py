"""A /key/generate that times out after LiteLLM made the key: the portal finds out before it
answers, deletes the key nobody saw, and the retry succeeds. Alias collisions between owners."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import AuditEvent, User
from app.services import keys as key_service
from app.services.create_timeout import TIMEOUT_ACTION
from app.services.keys import alias_for

WRITE_TIMEOUT = 0.5  # seconds the portal waits for /key/generate here
LATE = 2.0  # seconds the simulator holds its answer after making the key


@pytest.fixture
def app(make_config, sim, tmp_path):
    """The portal with a short write timeout, so a late answer is a timeout."""
    application = create_app(make_config(LITELLM_WRITE_TIMEOUT=WRITE_TIMEOUT))
    application.instance_path = str(tmp_path / "instance")
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def _timeout_events(app) -> list[dict]:
    with app.app_context():
        details = db.session.scalars(
            sa.select(AuditEvent.detail).where(AuditEvent.action == TIMEOUT_ACTION)
        ).all()
        db.session.rollback()
    return [json.loads(d) for d in details]


def test_timeout_after_the_key_was_made_deletes_it_and_the_retry_succeeds(
    app, client, alice, create_form, secret_in, sim, rows
):
    sim.set_late_answer("/key/generate", LATE)
    response = client.post("/keys", data=create_form(name="laptop"))
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "No key was made for you: try again" in html
    assert secret_in(response) is None and rows() == []
    assert sim.count("/key/generate") == 1
    assert sim.keys == {}  # the key LiteLLM made was found by its request id and deleted
    (event,) = _timeout_events(app)
    assert event["outcome"] == "deleted" and event["alias"] == alias_for(alice, "laptop")

    sim.clear_faults()
    retry = client.post("/keys", data=create_form(name="laptop"))
    assert retry.status_code == 201 and secret_in(retry)
    (row,) = rows()
    assert list(sim.keys) == [row.litellm_token_id]


def test_a_key_with_the_alias_but_another_request_id_is_left_alone(
    app, client, alice, create_form, sim, rows
):
    # Something else holds the alias (e.g. an earlier attempt): LiteLLM refuses, slowly.
    other = sim.add_key(
        key_alias=alias_for(alice, "laptop"),
        user_id="alice@example.com",
        metadata={"portal_request_id": "0" * 32},
    )
    sim.set_late_answer("/key/generate", LATE)
    response = client.post("/keys", data=create_form(name="laptop"))
    assert response.status_code == 503
    assert list(sim.keys) == [other["token"]]
    assert _timeout_events(app)[0]["outcome"] == "not made"


def test_timeout_and_lookup_failing_leave_an_adoptable_key(
    app, client, alice, create_form, secret_in, sim, rows, runner
):
    sim.set_late_answer("/key/generate", LATE)
    sim.set_fault("/key/list", 503)
    response = client.post("/keys", data=create_form(name="laptop"))
    assert response.status_code == 503
    assert "could not be asked what happened" in response.get_data(as_text=True)
    assert secret_in(response) is None and rows() == []
    (made,) = sim.keys.values()  # LiteLLM made it; nobody saw its secret
    assert _timeout_events(app)[0]["outcome"] == "unknown"

    sim.clear_faults()
    result = runner.invoke(args=["reconcile-keys", "--json"])
    assert result.exit_code == 0, result.output
    (adopted,) = json.loads(result.stdout)["results"]
    assert adopted["outcome"] == "adopted" and adopted["token_id"] == made["token"]
    (row,) = rows()
    assert row.label == "laptop" and row.user_id == alice.id


def test_owners_whose_ids_slug_alike_both_get_their_label(app, make_user, sim):
    dash = make_user("team-x@example.com")
    plus = make_user("team+x@example.com")
    assert key_service.slug(dash.litellm_user_id) == key_service.slug(plus.litellm_user_id)
    with app.app_context():
        for owner, token in ((dash, "a" * 32), (plus, "b" * 32)):
            request = key_service.NewKeyRequest(label="laptop", idempotency_token=token)
            key_service.create_key(db.session.get(User, owner.id), request)
    assert sorted(k["user_id"] for k in sim.keys.values()) == [
        "team+x@example.com",
        "team-x@example.com",
    ]
    assert len({k["key_alias"] for k in sim.keys.values()}) == 2


def test_existing_untagged_aliases_keep_working(client, alice, make_key, sim, csrf_token):
    old = make_key(alice, "old", alias="alice-example.com--old")  # made before owner tags
    response = client.post(f"/keys/{old.id}/revoke", data={"csrf_token": csrf_token()})
    assert response.status_code in (200, 303)
    assert old.token not in sim.keys
