"""CSRF on every POST route of the app (enumerated from url_map): refused and nothing changes."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from security_routes import rules, url

from app.extensions import db


@pytest.fixture
def setup(client, sign_in, make_user, make_key):
    """A signed-in admin who owns a key (so every POST route would otherwise succeed)."""
    admin = make_user("admin@example.com", is_admin=True)
    key = make_key(admin, "target")
    sign_in("admin@example.com")
    return admin, key


@pytest.fixture
def snapshot(app, sim):
    def take() -> tuple:
        with app.app_context():
            rows = []
            for table in db.metadata.sorted_tables:
                rows.append((table.name, sorted(map(repr, db.session.execute(sa.select(table))))))
        return rows, sorted(sim.keys), sorted(sim.deleted)

    return take


def _form_for(client, path: str) -> dict[str, str]:
    """The hidden fields of the first form on ``path`` (idempotency token etc.), minus CSRF."""
    html = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', html))
    fields.pop("csrf_token", None)
    return fields


@pytest.mark.parametrize("how", ["missing", "wrong", "header-wrong", "other-session"])
def test_every_post_refuses_without_a_valid_token(app, client, setup, snapshot, how):
    admin, key = setup
    post_rules = rules(app, "POST")
    assert {r.endpoint for r in post_rules} >= {"keys.create", "keys.revoke", "admin.revoke"}
    other = app.test_client()
    other_token = re.search(
        r'name="csrf-token" content="([^"]+)"', other.get("/auth/sign-in").get_data(as_text=True)
    ).group(1)
    for rule in post_rules:
        path = url(rule, key_id=key.id, user_id=admin.id)
        data = {"name": "new-key", **_form_for(client, "/keys")}
        headers = {}
        if how == "wrong":
            data["csrf_token"] = "not-the-token"
        elif how == "header-wrong":
            headers = {"X-CSRFToken": "not-the-token", "HX-Request": "true"}
        elif how == "other-session":
            data["csrf_token"] = other_token
        before = snapshot()
        response = client.post(path, data=data, headers=headers)
        assert response.status_code == 400, rule.rule
        assert "CSRF" in response.get_data(as_text=True)
        assert snapshot() == before, rule.rule
    # Still signed in: sign-out did nothing.
    assert client.get("/keys", follow_redirects=False).status_code == 200


def test_the_same_posts_work_with_the_token(app, client, setup, sim, csrf_token):
    """The refusal above is about the token: with it, the routes act."""
    admin, key = setup
    token = csrf_token()
    done = client.post(f"/admin/users/{admin.id}/keys/{key.id}/revoke", data={"csrf_token": token})
    assert done.status_code == 303 and key.token not in sim.keys
    headers = {"X-CSRFToken": token}
    assert client.post("/auth/sign-out", headers=headers).status_code == 303


def test_a_page_left_open_for_hours_still_posts(client, setup, csrf_token, monkeypatch):
    """The token lasts as long as the session, not a fixed hour: a tab opened in the morning
    can still sign out or revoke in the afternoon."""
    token = csrf_token()
    later = time.time() + 3 * 3600  # within SESSION_LIFETIME (8 h)
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.post("/auth/sign-out", data={"csrf_token": token}).status_code == 303
