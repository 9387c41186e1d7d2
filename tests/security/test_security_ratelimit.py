"""Per-user rate limits on key creation and usage refresh: clear message, others unaffected."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.extensions import db

AGGREGATED = "/user/daily/activity/aggregated"


@pytest.fixture
def limited(make_config):
    """An app with tight limits: 2 key creations per hour, 2 usage refreshes per minute."""
    app = create_app(
        make_config(RATE_LIMIT_KEY_CREATE="2/hour", RATE_LIMIT_USAGE_REFRESH="2/minute")
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def _signed_in(app, email):
    client = app.test_client()
    page = client.get("/auth/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    client.post("/auth/sign-in", data={"email": email, "csrf_token": token})
    page = client.get("/keys").get_data(as_text=True)  # sign-in starts a new session
    return client, re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def _create(client, token, name, hx=False):
    page = client.get("/keys").get_data(as_text=True)
    once = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
    return client.post(
        "/keys",
        data={"csrf_token": token, "idempotency_token": once, "name": name},
        headers={"HX-Request": "true"} if hx else {},
    )


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_key_creation_limit(limited, sim, hx):
    alice, alice_token = _signed_in(limited, "alice@example.com")
    bob, bob_token = _signed_in(limited, "bob@example.com")
    assert _create(alice, alice_token, "one").status_code == 201
    assert _create(alice, alice_token, "two").status_code == 201
    keys_before = len(sim.keys)
    third = _create(alice, alice_token, "three", hx=hx)
    body = third.get_data(as_text=True)
    assert third.status_code == 429
    assert "too many keys recently" in body and 'id="key-create"' in body
    assert len(sim.keys) == keys_before  # LiteLLM was not asked
    assert _create(bob, bob_token, "bobs").status_code == 201  # Bob is not affected


def test_usage_refresh_limit(limited, sim):
    alice, _ = _signed_in(limited, "alice@example.com")
    bob, _ = _signed_in(limited, "bob@example.com")
    for client in (alice, bob):
        page = client.get("/keys").get_data(as_text=True)
        once = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        client.post("/keys", data={"csrf_token": token, "idempotency_token": once, "name": "k"})
    alice.get("/usage?preset=7d")  # warm the cache
    for _ in range(2):
        ok = alice.get("/usage?preset=7d&refresh=1")
        assert ok.status_code == 200 and 'id="usage-notice"' not in ok.get_data(as_text=True)
    sim.reset_calls()
    limited_response = alice.get("/usage?preset=7d&refresh=1", headers={"HX-Request": "true"})
    body = limited_response.get_data(as_text=True)
    assert limited_response.status_code == 200
    assert 'id="usage-notice"' in body and "refreshed very often" in body
    assert sim.count(AGGREGATED) == 0  # served from cache, LiteLLM not asked again
    fresh = bob.get("/usage?preset=7d&refresh=1")
    assert "refreshed very often" not in fresh.get_data(as_text=True)
    assert sim.count(AGGREGATED) == 1


def test_admin_refresh_uses_the_same_limit(limited, sim, make_user):
    make_user("admin@example.com", is_admin=True)
    admin, _ = _signed_in(limited, "admin@example.com")
    for _ in range(2):
        assert "refreshed very often" not in admin.get("/admin/usage?refresh=1").get_data(
            as_text=True
        )
    third = admin.get("/admin/usage?refresh=1").get_data(as_text=True)
    assert 'id="admin-usage-notice"' in third and "refreshed very often" in third
