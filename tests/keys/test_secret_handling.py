"""A key's secret is shown once and then exists nowhere: DB, logs, later pages, session, cache."""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
import sqlalchemy as sa
from flask_sqlalchemy.session import Session
from sqlalchemy.exc import OperationalError

from app.models import ApiKey
from app.services.keys import alias_prefixes
from app.services.litellm import LiteLLMClient

HX = {"HX-Request": "true"}


def _log_text(caplog) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.__dict__))
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


@pytest.fixture
def debug_logs(caplog):
    """Capture every logger (app tree, the LiteLLM client, werkzeug, urllib3) at DEBUG."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="app")
    return caplog


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_secret_is_nowhere_after_the_create_response(
    app, client, alice, create_form, secret_in, db_dump, rows, csrf_token, sim, debug_logs, htmx
):
    response = client.post("/keys", data=create_form(name="laptop"), headers=HX if htmx else {})
    secret = secret_in(response)
    assert secret and response.headers["Cache-Control"] == "no-store"
    (row,) = rows()
    assert row.litellm_token_id == hashlib.sha256(secret.encode()).hexdigest()
    assert (
        sim.keys[row.litellm_token_id]["key_alias"]
        == f"{alias_prefixes('alice@example.com')[0]}laptop"
    )

    later = [
        client.get("/keys"),
        client.get("/keys", headers=HX),
        client.get(f"/keys/{row.id}/revoke"),
        client.get("/usage"),
        client.get(f"/usage?key={row.id}"),
    ]
    revoked = client.post(f"/keys/{row.id}/revoke", data={"csrf_token": csrf_token()})
    later += [revoked, client.get("/keys")]
    for page in later:
        assert secret not in page.get_data(as_text=True)
        assert secret not in str(page.headers)

    assert secret not in db_dump()
    assert secret not in _log_text(debug_logs)
    assert any(r.name == "app.litellm" for r in debug_logs.records)  # client lines were captured
    with client.session_transaction() as session:
        assert secret not in repr(dict(session))
    with app.app_context():
        from app.services import litellm_client

        cache = litellm_client().http.session.cache
        cached = [resp.text for resp in cache.responses.values()]
        assert all(secret not in text for text in cached)


def test_secret_is_not_logged_on_failure_paths(
    client, alice, create_form, db_dump, sim, debug_logs, monkeypatch
):
    seen: list[str] = []
    real = LiteLLMClient.generate_key

    def spy(self, **kwargs):
        generated = real(self, **kwargs)
        seen.append(generated.secret)
        return generated

    def refuse(session, flush_context, instances):
        if any(isinstance(obj, ApiKey) for obj in session.new):
            raise OperationalError("INSERT INTO api_keys", {}, Exception("database went away"))

    monkeypatch.setattr(LiteLLMClient, "generate_key", spy)
    sa.event.listen(Session, "before_flush", refuse)
    try:
        response = client.post("/keys", data=create_form(name="laptop"))
    finally:
        sa.event.remove(Session, "before_flush", refuse)
    assert response.status_code == 503
    (secret,) = seen
    assert secret not in response.get_data(as_text=True)
    assert secret not in db_dump()
    assert secret not in _log_text(debug_logs)
    assert sim.keys == {}


def test_usage_of_a_new_key_needs_no_key_list(client, alice, create_form, secret_in, sim, rows):
    secret = secret_in(client.post("/keys", data=create_form(name="laptop")))
    (row,) = rows()
    assert row.litellm_token_id == hashlib.sha256(secret.encode()).hexdigest()
    sim.reset_calls()
    response = client.get(f"/usage?key={row.id}")
    assert response.status_code == 200
    assert sim.count("/key/list") == 0  # the token id is already stored: nothing to resolve
    calls = [q for _, path, q in sim.calls if path.startswith("/user/daily/activity")]
    assert calls and all(q.get("api_key") == row.litellm_token_id for q in calls)
    assert secret not in response.get_data(as_text=True)


def test_secret_is_never_in_a_redirect_or_flash(client, alice, create_form, secret_in, sim):
    response = client.post("/keys", data=create_form(name="laptop"))
    secret = secret_in(response)
    assert response.status_code == 201 and "Location" not in response.headers
    page = client.get("/keys").get_data(as_text=True)
    assert not re.search(r"sk-[A-Za-z0-9_-]{6,}", page)  # only the "sk-...abcd" prefix shows
    assert secret[-4:] in page
