"""Every admin route (enumerated from url_map) answers a non-admin exactly like an unknown URL."""

from __future__ import annotations

import pytest
from security_routes import rules, url


@pytest.fixture
def people(client, sign_in, make_user, make_key):
    alice = make_user("alice@example.com")
    make_user("admin@example.com", is_admin=True)
    key = make_key(alice, "laptop")
    sign_in("alice@example.com")
    return alice, key


def _admin_rules(app, method):
    return [r for r in rules(app, method) if r.rule.startswith("/admin")]


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_non_admin_gets_404_on_every_admin_route(
    app, client, people, sim, csrf_token, page_text, hx
):
    alice, key = people
    headers = {"HX-Request": "true"} if hx else {}
    unknown = client.get("/admin/no-such-page", headers=headers)
    assert unknown.status_code == 404
    token = csrf_token()
    gets, posts = _admin_rules(app, "GET"), _admin_rules(app, "POST")
    assert len(gets) >= 4 and len(posts) >= 1
    for rule in gets:
        for query in ("", f"?user={alice.id}&key={key.id}"):
            response = client.get(
                url(rule, key_id=key.id, user_id=alice.id) + query, headers=headers
            )
            assert response.status_code == 404, rule.rule
            assert page_text(response) == page_text(unknown), rule.rule
    for rule in posts:
        response = client.post(
            url(rule, key_id=key.id, user_id=alice.id), data={"csrf_token": token}, headers=headers
        )
        assert response.status_code == 404 and page_text(response) == page_text(unknown)
    assert key.token in sim.keys


def test_signed_out_visitors_are_sent_to_sign_in(app, client, make_user):
    for rule in _admin_rules(app, "GET"):
        response = client.get(url(rule, key_id=1, user_id=1))
        assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]


def test_admins_reach_every_admin_get_route(app, client, people, sign_in):
    alice, key = people
    sign_in("admin@example.com")
    for rule in _admin_rules(app, "GET"):
        response = client.get(url(rule, key_id=key.id, user_id=alice.id))
        assert response.status_code == 200, rule.rule


def test_admin_flag_follows_admin_emails(app, client, sign_in, make_user):
    """ADMIN_EMAILS is the source of truth: a stale is_admin flag is corrected at sign-in."""
    make_user("former@example.com", is_admin=True)
    sign_in("former@example.com")
    assert client.get("/admin/usage").status_code == 404
