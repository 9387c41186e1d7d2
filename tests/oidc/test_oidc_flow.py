"""AUTH_MODE=oidc against a real OpenID provider over HTTP: sign-in, the admin group, sign-out,
and every refusal (tampered state, replayed code, wrong audience, expired token, unverified
email, provider down) ending on a clear page, never a 500, with nothing secret in the logs."""

from __future__ import annotations

import io
import logging
import socket
import time
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa
from oidc_helpers import MixUpProxy, csrf_from, follow_to_callback, sign_in

from app.extensions import db
from app.models import User


def _user(portal, email):
    with portal.app.app_context():
        return db.session.scalar(sa.select(User).where(User.email == email))


def _signed_in_as(http, portal) -> str | None:
    """The email the portal shows as signed in, or None when it sends us to sign in."""
    response = http.get(portal.url + "/keys", allow_redirects=False, timeout=10)
    if response.is_redirect:
        assert "/auth/sign-in" in response.headers["Location"]
        return None
    assert response.status_code == 200
    return response.text.split('class="user-email" title="Signed in">')[1].split("<")[0]


def test_sign_in_with_a_verified_email_lands_where_the_user_was_going(oidc_portal):
    portal = oidc_portal()
    http = requests.Session()
    callback = follow_to_callback(http, portal.url, "alice", path="/auth/sign-in?next=/usage")
    answer = http.get(callback, allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"] == "/usage"
    assert _signed_in_as(http, portal) == "alice@example.com"
    user = _user(portal, "alice@example.com")
    assert user.litellm_user_id == "alice@example.com" and not user.is_admin


def test_the_authorization_request_uses_pkce_s256_state_and_nonce(oidc_portal):
    portal = oidc_portal()
    response = requests.get(portal.url + "/auth/sign-in", allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == [portal.url + "/auth/callback"]
    assert query["scope"] == ["openid email profile groups"]


def test_member_of_an_admin_group_is_an_admin(oidc_portal):
    portal = oidc_portal()
    http = requests.Session()
    assert sign_in(http, portal.url, "bob").status_code == 303
    assert _user(portal, "bob@example.com").is_admin
    assert http.get(portal.url + "/admin/usage", timeout=10).status_code == 200


def test_admin_emails_still_make_admins(oidc_portal):
    portal = oidc_portal(ADMIN_EMAILS=("alice@example.com",))
    assert sign_in(requests.Session(), portal.url, "alice").status_code == 303
    assert _user(portal, "alice@example.com").is_admin


def test_unverified_email_is_refused_unless_allowed(oidc_portal):
    portal = oidc_portal()
    http = requests.Session()
    answer = sign_in(http, portal.url, "eve")
    assert answer.status_code == 403
    assert "eve@example.com is not verified" in answer.text
    assert _signed_in_as(http, portal) is None and _user(portal, "eve@example.com") is None

    lenient = oidc_portal(OIDC_ALLOW_UNVERIFIED_EMAIL=True)
    http = requests.Session()
    assert sign_in(http, lenient.url, "eve").status_code == 303
    assert _signed_in_as(http, lenient) == "eve@example.com"


def test_tampered_state_is_refused(oidc_portal, caplog):
    portal = oidc_portal()
    http = requests.Session()
    callback = follow_to_callback(http, portal.url, "alice")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    answer = http.get(callback.replace(state, state[:-2] + "xx"), timeout=10)
    assert answer.status_code == 400
    assert "could not be verified" in answer.text and "Traceback" not in answer.text
    assert "OIDC callback refused: mismatching_state" in caplog.text
    assert _signed_in_as(http, portal) is None


def test_replayed_code_is_refused(oidc_portal, caplog):
    portal = oidc_portal()
    http = requests.Session()
    callback = follow_to_callback(http, portal.url, "alice")
    before = requests.Session()  # the browser's cookies just before the callback, copied
    before.cookies.update(http.cookies)
    assert http.get(callback, allow_redirects=False, timeout=10).status_code == 303
    # Same code, same state and PKCE verifier (the old session cookie): the provider refuses.
    replay = before.get(callback, allow_redirects=False, timeout=10)
    assert replay.status_code == 400 and "could not be verified" in replay.text
    assert "OIDC callback refused: invalid_grant" in caplog.text
    assert _signed_in_as(before, portal) is None


def test_id_token_for_another_audience_is_refused(oidc_portal, oidc_issuer, caplog):
    proxy = MixUpProxy(oidc_issuer, swap_to="other-app")
    try:
        portal = oidc_portal(OIDC_ISSUER=proxy.url)
        http = requests.Session()
        answer = sign_in(http, portal.url, "alice")
        assert answer.status_code == 400 and "could not be verified" in answer.text
        assert "OIDC callback refused: invalid_claim (Invalid claim: 'aud')" in caplog.text
        assert _signed_in_as(http, portal) is None
    finally:
        proxy.stop()


def test_expired_id_token_is_refused(oidc_portal, caplog):
    portal = oidc_portal(OIDC_CLIENT_ID="portal-expired")
    http = requests.Session()
    answer = sign_in(http, portal.url, "alice")
    assert answer.status_code == 400 and "could not be verified" in answer.text
    assert "OIDC callback refused: expired_token" in caplog.text
    assert _signed_in_as(http, portal) is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_provider_down_at_sign_in_shows_a_clear_page(oidc_portal):
    portal = oidc_portal(OIDC_ISSUER=f"http://127.0.0.1:{_closed_port()}")
    answer = requests.get(portal.url + "/auth/sign-in", timeout=10)
    assert answer.status_code == 503
    assert "could not reach your organisation&#39;s sign-in provider" in answer.text


def test_provider_down_at_callback_shows_a_clear_page(oidc_portal, oidc_issuer):
    proxy = MixUpProxy(oidc_issuer, swap_to=None)
    portal = oidc_portal(OIDC_ISSUER=proxy.url)
    http = requests.Session()
    callback = follow_to_callback(http, portal.url, "alice")
    proxy.stop()  # the token endpoint is gone
    answer = http.get(callback, allow_redirects=False, timeout=10)
    assert answer.status_code == 503
    assert "could not reach your organisation&#39;s sign-in provider" in answer.text
    assert _signed_in_as(http, portal) is None


def test_provider_error_on_the_callback_is_shown(oidc_portal):
    portal = oidc_portal()
    answer = requests.get(
        portal.url + "/auth/callback?error=access_denied&state=whatever", timeout=10
    )
    assert answer.status_code == 403 and "(access_denied)" in answer.text
    crafted = requests.get(portal.url + "/auth/callback?error=Call+0800+now+to+unlock", timeout=10)
    assert crafted.status_code == 403 and "0800" not in crafted.text


def test_sign_out_ends_both_sessions_with_rp_initiated_logout(oidc_portal, oidc_issuer):
    portal = oidc_portal()
    http = requests.Session()
    sign_in(http, portal.url, "alice")
    page = http.get(portal.url + "/keys", timeout=10).text
    answer = http.post(
        portal.url + "/auth/sign-out",
        data={"csrf_token": csrf_from(page)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == oidc_issuer
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == [portal.url + "/auth/signed-out"]
    assert query["id_token_hint"][0].startswith("eyJ")
    assert _signed_in_as(http, portal) is None
    # The provider accepts the hint: its confirmation page, not an error.
    confirm = http.get(answer.headers["Location"], timeout=10)
    assert confirm.status_code == 200 and "logout" in confirm.text.lower()


def test_session_lasts_session_lifetime(oidc_portal):
    portal = oidc_portal(PERMANENT_SESSION_LIFETIME=600)
    http = requests.Session()
    sign_in(http, portal.url, "alice")
    cookie = next(c for c in http.cookies if c.name == "session")  # the provider's differ
    assert cookie.expires is not None and 590 <= cookie.expires - time.time() <= 600


def test_codes_and_tokens_never_reach_the_logs(oidc_portal):
    portal = oidc_portal()
    handler = next(h for h in logging.getLogger("app").handlers if hasattr(h, "_portal_handler"))
    captured = io.StringIO()
    original = handler.setStream(captured)
    try:
        http = requests.Session()
        callback = follow_to_callback(http, portal.url, "alice")
        before = requests.Session()
        before.cookies.update(http.cookies)
        http.get(callback, allow_redirects=False, timeout=10)
        before.get(callback, timeout=10)  # a refused replay logs its reason
        page = http.get(portal.url + "/keys", timeout=10).text
        signed_out = http.post(
            portal.url + "/auth/sign-out",
            data={"csrf_token": csrf_from(page)},
            allow_redirects=False,
            timeout=10,
        )
    finally:
        handler.setStream(original)
    output = captured.getvalue()
    code = parse_qs(urlsplit(callback).query)["code"][0]
    state = parse_qs(urlsplit(callback).query)["state"][0]
    id_token = parse_qs(urlsplit(signed_out.headers["Location"]).query)["id_token_hint"][0]
    assert '"path": "/auth/callback"' in output and "OIDC callback refused" in output
    assert code not in output and state not in output and id_token not in output
    assert "eyJ" not in output


def test_sign_out_without_provider_logout_ends_the_portal_session(oidc_portal, oidc_issuer):
    proxy = MixUpProxy(oidc_issuer, swap_to=None, end_session=False)
    try:
        portal = oidc_portal(OIDC_ISSUER=proxy.url)
        http = requests.Session()
        sign_in(http, portal.url, "alice")
        copied = dict(http.cookies)  # what someone who saw the session cookie would keep
        page = http.get(portal.url + "/keys", timeout=10).text
        answer = http.post(
            portal.url + "/auth/sign-out",
            data={"csrf_token": csrf_from(page)},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 303 and answer.headers["Location"] == "/auth/signed-out"
        assert _signed_in_as(http, portal) is None
        replay = requests.Session()  # the copied cookie ended on the server too
        replay.cookies.update(copied)
        assert _signed_in_as(replay, portal) is None
    finally:
        proxy.stop()


def test_redirect_uri_follows_the_forwarded_host_and_scheme_or_the_setting(oidc_portal):
    portal = oidc_portal()
    client = portal.app.test_client()
    # What gunicorn hands the portal behind a trusted proxy: the forwarded Host, and https from
    # X-Forwarded-Proto (FORWARDED_ALLOW_IPS).
    answer = client.get("/auth/sign-in", base_url="https://portal.example.com")
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://portal.example.com/auth/callback"]

    explicit = oidc_portal(OIDC_REDIRECT_URI="https://keys.example.com/auth/callback")
    answer = explicit.app.test_client().get("/auth/sign-in")
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://keys.example.com/auth/callback"]


def test_pages_let_the_sign_out_form_reach_the_provider(oidc_portal, oidc_issuer, client):
    portal = oidc_portal()
    csp = requests.get(portal.url + "/auth/signed-out", timeout=10).headers
    assert f"form-action 'self' {oidc_issuer};" in csp["Content-Security-Policy"]
    # Other modes keep the strict policy.
    assert "form-action 'self';" in client.get("/auth/sign-in").headers["Content-Security-Policy"]


def test_a_look_alike_email_never_signs_in_as_the_ascii_address(oidc_portal):
    portal = oidc_portal(ADMIN_EMAILS=("kate@example.com",))
    http = requests.Session()
    answer = sign_in(http, portal.url, "kelvin")
    assert answer.status_code == 403
    assert "characters that stand for other letters" in answer.text
    assert _signed_in_as(http, portal) is None and _user(portal, "kate@example.com") is None


def test_claims_of_the_wrong_type_are_refused_with_a_message(oidc_portal):
    portal = oidc_portal()
    for login, claim in (("gina", "groups"), ("lister", "email")):
        http = requests.Session()
        answer = sign_in(http, portal.url, login)
        assert answer.status_code == 403, (login, answer.text[:300])
        assert f"the “{claim}” claim in a form the portal cannot read" in answer.text
        assert _signed_in_as(http, portal) is None


def test_an_admin_removed_from_the_admin_groups_loses_admin_on_the_next_request(oidc_portal):
    portal = oidc_portal()
    http = requests.Session()
    assert sign_in(http, portal.url, "bob").status_code == 303
    assert http.get(portal.url + "/admin/usage", timeout=10).status_code == 200

    portal.app.config["OIDC_ADMIN_GROUPS"] = ("someone-else",)  # the setting changed

    assert http.get(portal.url + "/admin/usage", timeout=10).status_code == 404
    assert not _user(portal, "bob@example.com").is_admin
