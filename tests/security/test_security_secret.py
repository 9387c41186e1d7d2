"""A key's secret appears in the create response and in no response after it: every GET route
(page and fragment), both exports, the admin views and the audit trail."""

from __future__ import annotations

import re

import pytest
from security_routes import rules, url

HX = {"HX-Request": "true"}


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_secret_appears_only_in_the_create_response(
    app, client, sign_in, make_user, csrf_token, hx
):
    make_user("admin@example.com", is_admin=True)
    alice = make_user("alice@example.com")
    sign_in("alice@example.com")
    page = client.get("/keys").get_data(as_text=True)
    once = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_token(), "idempotency_token": once, "name": "laptop"}
    created = client.post("/keys", data=form, headers=HX if hx else {})
    secret = re.search(r'id="new-key-secret"[^>]*>([^<]+)<', created.get_data(as_text=True))
    assert created.status_code == 201 and secret
    secret = secret.group(1).strip()
    assert secret.startswith("sk-") and len(secret) > 20
    key_id = int(re.search(r'id="key-row-(\d+)"', created.get_data(as_text=True)).group(1))

    def sweep(user_id: int) -> int:
        checked = 0
        for rule in rules(app, "GET"):
            path = url(rule, key_id=key_id, user_id=user_id)
            for query in ("", f"?key={key_id}", "?key=all&preset=30d", f"?user={user_id}"):
                for headers in ({}, HX):
                    response = client.get(path + query, headers=headers)
                    assert secret not in response.get_data(as_text=True), path + query
                    assert secret not in str(response.headers), path + query
                    assert secret[-12:] not in response.get_data(as_text=True), path + query
                    checked += 1
        return checked

    assert sweep(alice.id) > 40
    # The same double submission shows the list again, never the secret.
    again = client.post("/keys", data=form)
    assert again.status_code == 200 and secret not in again.get_data(as_text=True)
    sign_in("admin@example.com")
    assert sweep(alice.id) > 40
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "key.create" in audit and secret not in audit
