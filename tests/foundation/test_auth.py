"""Dev and header sign-in, the 401 wall, admins, CSRF."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import User


def _users(app):
    with app.app_context():
        return db.session.scalars(sa.select(User).order_by(User.id)).all()


def test_pages_redirect_to_sign_in_in_dev_mode(client):
    response = client.get("/keys")
    assert response.status_code == 302
    assert "/auth/sign-in" in response.headers["Location"]


def test_dev_sign_in_creates_user_and_shows_pages(app, client, sign_in):
    sign_in("Alice@Example.com ")
    users = _users(app)
    assert [(u.email, u.litellm_user_id, u.is_admin) for u in users] == [
        ("alice@example.com", "alice@example.com", False)
    ]
    for path in ("/keys", "/usage"):
        page = client.get(path)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "alice@example.com" in html and "Sign out" in html


def test_second_sign_in_reuses_the_user(app, client, sign_in):
    sign_in("alice@example.com")
    sign_in("alice@example.com")
    assert len(_users(app)) == 1


def test_dev_sign_in_rejects_non_email(app, client, csrf_token):
    token = csrf_token(path="/auth/sign-in")
    response = client.post("/auth/sign-in", data={"email": "not-an-email", "csrf_token": token})
    assert response.status_code == 400
    assert "valid email" in response.get_data(as_text=True)
    assert _users(app) == []


KELVIN = "\u212aate@example.com"  # U+212A KELVIN SIGN: str.lower() makes it kate@example.com


def test_dev_sign_in_refuses_a_look_alike_of_another_address(app, client, sign_in, csrf_token):
    sign_in("kate@example.com")
    other = app.test_client()
    token = csrf_token(other, path="/auth/sign-in")
    response = other.post("/auth/sign-in", data={"email": KELVIN, "csrf_token": token})
    assert response.status_code == 400
    assert "stand for other letters" in response.get_data(as_text=True)
    assert [u.email for u in _users(app)] == ["kate@example.com"]


def test_addresses_differing_in_case_are_one_person(app, client, sign_in):
    sign_in("Alice@Example.COM")
    sign_in("alice@example.com")
    assert [u.email for u in _users(app)] == ["alice@example.com"]


def test_header_mode_refuses_a_look_alike_address(build_app):
    app = build_app(schema=True, AUTH_MODE="header", ADMIN_EMAILS=("kate@example.com",))
    response = app.test_client().get("/admin/usage", headers={"X-Forwarded-Email": KELVIN})
    assert response.status_code == 401
    assert _users(app) == []


def test_an_admin_removed_from_admin_emails_loses_admin_on_the_next_request(app, client, sign_in):
    sign_in("admin@example.com")
    assert client.get("/admin/usage").status_code == 200
    app.config["ADMIN_EMAILS"] = ()  # the setting changed (a restart with a new list)
    assert client.get("/admin/usage").status_code == 404
    assert _users(app)[0].is_admin is False


def test_a_copied_session_cookie_stops_working_at_sign_out(app, client, sign_in, csrf_token):
    sign_in("alice@example.com")
    cookie = client.get_cookie("session").value
    assert client.post("/auth/sign-out", data={"csrf_token": csrf_token()}).status_code == 303
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/keys").status_code == 302  # sent to sign in: the server forgot it


def test_admin_emails_make_admins(app, client, sign_in):
    sign_in("admin@example.com")
    assert _users(app)[0].is_admin is True
    assert client.get("/admin/usage").status_code == 200


def test_sign_in_refuses_offsite_next(client, csrf_token):
    token = csrf_token(path="/auth/sign-in")
    response = client.post(
        "/auth/sign-in",
        data={"email": "a@example.com", "csrf_token": token, "next": "//evil.example/x"},
    )
    assert response.headers["Location"] == "/keys"


def test_sign_out(client, sign_in, csrf_token):
    sign_in("alice@example.com")
    token = csrf_token()
    assert client.post("/auth/sign-out", data={"csrf_token": token}).status_code == 303
    assert client.get("/keys").status_code == 302


def test_post_without_csrf_token_is_refused(app, client):
    response = client.post("/auth/sign-in", data={"email": "alice@example.com"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert _users(app) == []


def test_csrf_token_accepted_from_header(client, csrf_token):
    token = csrf_token(path="/auth/sign-in")
    response = client.post(
        "/auth/sign-in", data={"email": "h@example.com"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 303


def test_every_form_and_page_carries_the_token(client, sign_in):
    sign_in("alice@example.com")
    html = client.get("/keys").get_data(as_text=True)
    assert '<meta name="csrf-token"' in html
    assert 'name="csrf_token"' in html  # the sign-out form
    assert '"X-CSRFToken"' in html  # htmx sends the header


# --- header mode -----------------------------------------------------------------------------


def test_header_mode_without_header_is_401(build_app):
    app = build_app(schema=True, AUTH_MODE="header")
    response = app.test_client().get("/keys")
    assert response.status_code == 401


def test_header_mode_signs_in_from_the_header(build_app):
    app = build_app(schema=True, AUTH_MODE="header")
    response = app.test_client().get("/keys", headers={"X-Forwarded-Email": "bob@example.com"})
    assert response.status_code == 200
    assert "bob@example.com" in response.get_data(as_text=True)
    assert [u.email for u in _users(app)] == ["bob@example.com"]


def test_header_mode_custom_header_name(build_app):
    app = build_app(schema=True, AUTH_MODE="header", AUTH_HEADER="X-Auth-Request-Email")
    client = app.test_client()
    assert client.get("/keys", headers={"X-Forwarded-Email": "bob@example.com"}).status_code == 401
    assert (
        client.get("/keys", headers={"X-Auth-Request-Email": "bob@example.com"}).status_code == 200
    )


def test_header_mode_ignores_header_from_untrusted_peer(build_app):
    app = build_app(schema=True, AUTH_MODE="header", TRUSTED_PROXY_IPS=("10.0.0.5",))
    client = app.test_client()
    headers = {"X-Forwarded-Email": "mallory@example.com"}
    untrusted = client.get("/keys", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert untrusted.status_code == 401
    trusted = client.get("/keys", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert trusted.status_code == 200


def test_header_mode_has_no_dev_sign_in(build_app):
    app = build_app(schema=True, AUTH_MODE="header")
    assert app.test_client().get("/auth/sign-in").status_code == 404
