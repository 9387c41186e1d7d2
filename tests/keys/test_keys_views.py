"""The /keys routes: page and fragments, form errors, revoke confirmation, CSRF, 404s."""

from __future__ import annotations

import hashlib
import re

import pytest

from app.extensions import db
from app.models import ApiKey, AuditEvent
from app.services.keys import alias_prefixes

HX = {"HX-Request": "true"}
IDEMPOTENCY_RE = re.compile(r'name="idempotency_token" value="([^"]+)"')


def test_keys_page_and_fragment(client, alice, make_key, sim):
    key = make_key(alice, "laptop")
    sim.keys[key.token]["spend"] = 1.25
    sim.keys[key.token]["max_budget"] = 10.0
    sim.reset_calls()

    page = client.get("/keys")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<html" in html and 'id="key-create"' in html and 'id="key-list"' in html
    assert "HX-Request" in page.headers["Vary"]
    assert "laptop" in html and key.key_prefix in html
    assert "$1.25" in html and "$10.00" in html
    assert f'href="/usage?key={key.id}"' in html and "View usage" in html
    assert f'href="/keys/{key.id}/revoke"' in html
    assert sim.count("/key/list") == 1  # one sweep for the user, not one call per key

    fragment = client.get("/keys", headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="key-list"')
    assert "HX-Request" in fragment.headers["Vary"]


def test_list_shows_status_but_token_knowledge_only_to_admins(
    client, alice, make_key, sign_in, sim
):
    make_key(alice, "old", revoked=True)
    legacy = make_key(alice, "legacy", store_token=False)
    del sim.keys[legacy.token]  # gone from LiteLLM before its token id was stored
    html = client.get("/keys").get_data(as_text=True)
    old_row = re.search(r'<tr id="key-row-\d+" class="key-row key-revoked">.*?</tr>', html, re.S)
    assert old_row and "old" in old_row.group(0) and "Revoke<" not in old_row.group(0)
    # Operator jargon stays on the admin pages.
    assert "Token id" not in html and "backfill-tokens" not in html
    sign_in("admin@example.com")  # in the testing ADMIN_EMAILS
    admin_page = client.get(f"/admin/users/{alice.id}/keys")
    admin_html = admin_page.get_data(as_text=True)
    assert admin_page.status_code == 200, admin_html[-3000:]
    row = re.search(rf'<tr id="admin-key-row-{legacy.id}".*?</tr>', admin_html, re.S)
    assert row and "unknown" in row.group(0) and "backfill-tokens" in row.group(0)


def test_list_renders_from_db_when_litellm_is_down(client, alice, make_key, sim_server):
    make_key(alice, "laptop")
    sim_server.shutdown()
    try:
        response = client.get("/keys")
    finally:
        sim_server.restart()
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "laptop" in html
    assert 'id="key-list-notice"' in html and "unreachable" in html


def test_create_plain_form_shows_secret_once(client, alice, create_form, secret_in, sim, rows):
    response = client.post("/keys", data=create_form(name="laptop", max_budget="12.5"))
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<html" in html
    assert 'data-copy-target="new-key-secret"' in html
    secret = secret_in(response)
    assert secret and secret.startswith("sk-")
    (row,) = rows()
    assert row.litellm_token_id == hashlib.sha256(secret.encode()).hexdigest()
    assert row.max_budget == 12.5 and row.label == "laptop"
    # The next page view does not show it again.
    assert secret not in client.get("/keys").get_data(as_text=True)


def test_create_htmx_returns_list_and_fresh_form(client, alice, create_form, secret_in):
    data = create_form(name="laptop")
    response = client.post("/keys", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="key-list"')
    assert secret_in(response)
    assert 'id="key-create"' in html and 'hx-swap-oob="true"' in html
    # The swapped-in form carries a new one-time token.
    assert IDEMPOTENCY_RE.search(html).group(1) != data["idempotency_token"]


BAD_INPUT = [
    ({"name": ""}, "name", "Enter a name"),
    ({"name": "x" * 65}, "name", "at most 64"),
    ({"name": "my laptop!"}, "name", "Use only letters"),
    ({"name": "   "}, "name", "Enter a name"),
    ({"max_budget": "-1"}, "max_budget", "cannot be negative"),
    ({"max_budget": "ten"}, "max_budget", "Enter an amount"),
    ({"max_budget": "nan"}, "max_budget", "Enter an amount"),
    ({"max_budget": "inf"}, "max_budget", "Enter an amount"),
    ({"max_budget": "1000000001"}, "max_budget", "That budget is too large"),
    ({"duration": "30y"}, "duration", "s, m, h, d, w or mo"),
    ({"duration": "d30"}, "duration", "s, m, h, d, w or mo"),
    ({"models": "gpt-4o, bad model"}, "models", "Not a model name"),
    ({"models": ", ".join(f"m{i}" for i in range(51))}, "models", "List at most 50 models"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("fields", "field", "message"), BAD_INPUT)
def test_bad_input_is_a_field_error_and_nothing_is_sent(
    client, alice, create_form, sim, rows, fields, field, message, htmx
):
    if field == "models":
        sim.models.clear()  # LiteLLM lists no models: the form takes them as free text
    data = create_form(**{"name": "laptop", **fields})
    sim.reset_calls()
    response = client.post("/keys", data=data, headers=HX if htmx else {})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert f'id="key-{field}-error"' in html
    tag = re.search(rf'<input id="key-{field}"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in tag and f"key-{field}-error" in tag
    assert f'value="{fields[field].strip()}"' in tag  # keeps what was typed (trimmed)
    if htmx:
        assert response.headers["HX-Retarget"] == "#key-create"
        assert html.lstrip().startswith('<section id="key-create"')
    assert sim.count() == 0
    assert rows() == []


def test_a_malformed_idempotency_token_asks_for_a_reload(client, alice, create_form, sim, rows):
    data = create_form(idempotency_token="short")
    sim.reset_calls()
    response = client.post("/keys", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This form has expired. Reload the page and try again." in html
    assert IDEMPOTENCY_RE.search(html).group(1) != "short"  # a fresh token to try again with
    assert sim.count() == 0
    assert rows() == []


def test_duplicate_name_for_same_user_is_a_field_error(client, alice, make_key, create_form, sim):
    make_key(alice, "laptop", revoked=True)
    data = create_form(name="laptop")
    sim.reset_calls()
    response = client.post("/keys", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="key-name-error"' in html and "already have a key named" in html
    assert sim.count() == 0


def test_two_users_may_both_have_laptop(client, alice, make_user, sign_in, create_form, sim):
    assert client.post("/keys", data=create_form(name="laptop")).status_code == 201
    make_user("bob@example.com")
    sign_in("bob@example.com")
    assert client.post("/keys", data=create_form(name="laptop")).status_code == 201
    aliases = sorted(k["key_alias"] for k in sim.keys.values())
    assert aliases == [
        f"{alias_prefixes(u)[0]}laptop" for u in ("alice@example.com", "bob@example.com")
    ]


def test_rate_limit_gives_429_form_error(app, client, alice, create_form, sim, rows):
    app.config["RATE_LIMIT_KEY_CREATE"] = "1/hour"
    assert client.post("/keys", data=create_form(name="one")).status_code == 201
    data = create_form(name="two")
    sim.reset_calls()
    response = client.post("/keys", data=data)
    assert response.status_code == 429
    assert "too many keys" in response.get_data(as_text=True)
    assert 'value="two"' in response.get_data(as_text=True)
    assert sim.count("/key/generate") == 0
    assert [r.label for r in rows()] == ["one"]


def test_revoke_confirm_then_plain_post(client, app, alice, make_key, csrf_token, sim):
    key = make_key(alice, "laptop")
    confirm = client.get(f"/keys/{key.id}/revoke")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "<html" in html
    assert f'<form method="post" action="/keys/{key.id}/revoke"' in html
    assert key.token in sim.keys  # looking at the confirmation changes nothing

    fragment = client.get(f"/keys/{key.id}/revoke", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith(f'<div id="revoke-confirm-{key.id}"')
    assert 'hx-target="#key-list"' in fragment

    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()})
    assert response.status_code == 303 and response.headers["Location"] == "/keys"
    assert key.token not in sim.keys
    with app.app_context():
        stored = db.session.get(ApiKey, key.id)
        assert stored.revoked_at is not None  # the row stays, for usage history
        event = db.session.query(AuditEvent).filter_by(action="key.revoke").one()
        assert event.target_key_id == key.id and event.actor_user_id == alice.id
    follow = client.get("/keys").get_data(as_text=True)
    assert "revoked" in follow and "laptop" in follow


def test_revoke_htmx_updates_list(client, alice, make_key, csrf_token, sim):
    key = make_key(alice, "laptop")
    response = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="key-list"')
    assert "revoked" in html and key.token not in sim.keys


def test_post_without_csrf_token_is_refused(client, alice, make_key, create_form, sim, rows):
    key = make_key(alice, "laptop")
    data = create_form(name="desktop")
    del data["csrf_token"]
    sim.reset_calls()
    assert client.post("/keys", data=data).status_code == 400
    assert client.post(f"/keys/{key.id}/revoke", data={}).status_code == 400
    assert client.post(f"/keys/{key.id}/revoke", data={"csrf_token": "forged"}).status_code == 400
    assert sim.count() == 0
    assert [(r.label, r.revoked_at) for r in rows()] == [("laptop", None)]
    assert key.token in sim.keys


def test_other_users_key_is_404_like_a_missing_one(
    client, alice, make_user, make_key, csrf_token, page_text, sim, rows
):
    bob = make_user("bob@example.com")
    bobs = make_key(bob, "laptop")
    token = csrf_token()
    sim.reset_calls()
    for method, path in (("get", "/keys/{}/revoke"), ("post", "/keys/{}/revoke")):
        theirs = getattr(client, method)(path.format(bobs.id), data={"csrf_token": token})
        missing = getattr(client, method)(path.format(999999), data={"csrf_token": token})
        assert theirs.status_code == missing.status_code == 404
        assert page_text(theirs) == page_text(missing)
    assert sim.count() == 0
    assert bobs.token in sim.keys
    assert rows()[0].revoked_at is None
