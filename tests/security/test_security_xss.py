"""Every user- or LiteLLM-controlled string is shown escaped, never as HTML.

Labels and emails are validated on input, so the payload is written straight into the database
rows; aliases, model and provider names and error messages come from the LiteLLM simulator.
"""

from __future__ import annotations

import datetime as dt

import pytest
from security_routes import rules, url

PAYLOAD = "<script>alert(1)</script>\"'"
ERROR = "<script>err(2)</script>\"'"  # LiteLLM's error message
RAW = ["<script>alert(1)", "<script>err(2)", "</script>\"'", '</script>"']
ERROR_ESCAPED = "&lt;script&gt;err(2)&lt;/script&gt;"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;"
HX = {"HX-Request": "true"}
TODAY = dt.datetime.now(dt.UTC).date()


def check(response, where: str) -> str:
    """The response never carries the payload as markup; returns the body."""
    body = response.get_data(as_text=True)
    ctype = response.headers.get("Content-Type", "")
    if ctype.startswith("text/html"):
        for raw in RAW:
            assert raw not in body, f"{where}: unescaped payload"
    else:
        # Exports are data, not documents: never HTML, never sniffed, downloaded.
        assert ctype.startswith(("application/json", "text/csv")), where
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if response.status_code == 200 and "/export." in where:
            assert response.headers["Content-Disposition"].startswith("attachment"), where
    return body


@pytest.fixture
def world(make_user, make_key, sim):
    alice = make_user("alice@example.com")
    evil = make_user(f"x{PAYLOAD}@example.com")  # bypasses email validation, like a DB edit
    make_user("admin@example.com", is_admin=True)
    key = make_key(alice, PAYLOAD, alias=f"alice--{PAYLOAD}")
    evil_key = make_key(evil, PAYLOAD, alias=f"x{PAYLOAD}@example.com--{PAYLOAD}")
    make_key(alice, "unresolved", store_token=False, alias=f"gone--{PAYLOAD}", in_litellm=False)
    for token in (key.token, evil_key.token):
        sim.add_usage(
            token=token,
            date=TODAY,
            model=PAYLOAD,
            provider=PAYLOAD,
            prompt_tokens=10,
            completion_tokens=5,
            spend=0.5,
        )
    return alice, evil, key, evil_key


def _every_get(app, client, user_id, key_id, extra=()):
    seen = []
    for rule in rules(app, "GET"):
        path = url(rule, key_id=key_id, user_id=user_id)
        for query in ("", f"?key={key_id}&preset=7d", f"?user={user_id}&key={key_id}", *extra):
            for headers in ({}, HX):
                response = client.get(path + query, headers=headers)
                seen.append(check(response, path + query))
    return "\n".join(seen)


def test_owner_pages_escape_labels_aliases_models_providers(app, client, sign_in, world):
    alice, evil, key, evil_key = world
    sign_in("alice@example.com")
    everything = _every_get(app, client, alice.id, key.id, extra=("?key=all&preset=7d",))
    assert ESCAPED in everything  # the payload was rendered, escaped
    # the unresolved key's alias is shown in the usage warning
    assert f"gone--{ESCAPED}" in client.get("/usage?key=all").get_data(as_text=True)


def test_admin_pages_escape_emails_labels_models_and_audit_details(
    app, client, sign_in, world, csrf_token
):
    alice, evil, key, evil_key = world
    sign_in("admin@example.com")
    revoked = client.post(
        f"/admin/users/{evil.id}/keys/{evil_key.id}/revoke",
        data={"csrf_token": csrf_token()},
        headers=HX,
    )
    assert ESCAPED in check(revoked, "admin revoke")
    everything = _every_get(app, client, evil.id, evil_key.id, extra=("?preset=7d",))
    assert f"x{ESCAPED}@example.com" in everything  # the email
    assert ESCAPED in client.get("/admin/usage?preset=7d").get_data(as_text=True)
    keys_page = client.get(f"/admin/users/{evil.id}/keys").get_data(as_text=True)
    assert f"@example.com--{ESCAPED}" in keys_page  # the LiteLLM alias


@pytest.mark.parametrize(
    "path",
    ["/user/daily/activity", "/key/list", "/key/generate", "/key/delete"],
)
def test_litellm_error_messages_are_escaped(app, client, sign_in, world, sim, csrf_token, path):
    import re

    alice, evil, key, evil_key = world
    sign_in("alice@example.com")
    token = csrf_token()
    sim.set_fault(path, 400, body={"error": {"message": ERROR, "type": ERROR}})
    bodies = [
        check(client.get(p, headers=h), p)
        for p in ("/keys", "/usage?key=all", f"/usage?key={key.id}")
        for h in ({}, HX)
    ]
    page = client.get("/keys").get_data(as_text=True)
    once = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "idempotency_token": once, "name": "fresh"}
    bodies.append(check(client.post("/keys", data=data, headers=HX), "create"))
    second = client.post(f"/keys/{key.id}/revoke", data={"csrf_token": token}, headers=HX)
    bodies.append(check(second, "revoke"))
    for export in ("/usage/export.json", "/usage/export.csv"):
        check(client.get(f"{export}?key=all"), export)
    sign_in("admin@example.com")
    sim.set_fault(path, 400, body={"error": {"message": ERROR}})
    for p in ("/admin/usage", f"/admin/usage?user={alice.id}", f"/admin/users/{alice.id}/keys"):
        bodies.append(check(client.get(p), p))
    shown = [b for b in bodies if ERROR_ESCAPED in b]
    assert shown, f"LiteLLM's message for {path} was never shown"
