"""AUTH_MODE=oidc start-up refusals and the redaction of sign-in credentials in logs."""

from __future__ import annotations

import io
import logging
import re

import pytest

from app import ConfigError, create_app
from app.services.redact import RedactingFilter, redact

OIDC_VARS = (
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_SCOPES",
    "OIDC_REDIRECT_URI",
    "SESSION_LIFETIME",
    "OIDC_ALLOW_HTTP_ISSUER",
)
PROD_ENV = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "s3cret-for-tests",
    "DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal",
    "LITELLM_BASE_URL": "http://litellm.internal:4000",
    "LITELLM_MASTER_KEY": "sk-master-for-tests-123456",
    "AUTH_MODE": "oidc",
    "OIDC_REDIRECT_URI": "https://portal.example.com/auth/callback",
}


@pytest.fixture
def oidc_env(monkeypatch):
    for name in OIDC_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_oidc_without_its_variables_refuses_to_start_naming_them(oidc_env):
    oidc_env.setenv("OIDC_CLIENT_ID", "portal")
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    assert str(excinfo.value) == "AUTH_MODE=oidc needs OIDC_ISSUER, OIDC_CLIENT_SECRET"


def test_oidc_complete_starts_in_production(oidc_env):
    oidc_env.setenv("OIDC_ISSUER", "https://sso.example.com/realms/acme")
    oidc_env.setenv("OIDC_CLIENT_ID", "portal")
    oidc_env.setenv("OIDC_CLIENT_SECRET", "null")  # rendered-but-unset counts as missing
    with pytest.raises(ConfigError, match="needs OIDC_CLIENT_SECRET$"):
        create_app()
    oidc_env.setenv("OIDC_CLIENT_SECRET", "s3cret")
    oidc_env.setenv("SESSION_LIFETIME", "3600")
    app = create_app()
    assert app.config["AUTH_MODE"] == "oidc"
    assert app.permanent_session_lifetime.total_seconds() == 3600
    assert "authlib.integrations.flask_client" in app.extensions


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OIDC_ISSUER", "sso.example.com", "OIDC_ISSUER must be an http(s) URL"),
        ("OIDC_REDIRECT_URI", "/auth/callback", "OIDC_REDIRECT_URI must be an http(s) URL"),
        ("OIDC_SCOPES", "email profile", "OIDC_SCOPES must include openid"),
        ("SESSION_LIFETIME", "10", "SESSION_LIFETIME must be at least 60 seconds"),
    ],
)
def test_malformed_oidc_settings_are_refused(oidc_env, name, value, message):
    oidc_env.setenv("OIDC_ISSUER", "https://sso.example.com")
    oidc_env.setenv("OIDC_CLIENT_ID", "portal")
    oidc_env.setenv("OIDC_CLIENT_SECRET", "s3cret")
    oidc_env.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app()


def test_production_needs_a_fixed_redirect_uri_and_an_https_issuer(oidc_env):
    """Derived from the request, the callback would follow the Host header a client sends; a
    plain-http issuer hands its keys and tokens to anyone on the path."""
    oidc_env.setenv("OIDC_CLIENT_ID", "portal")
    oidc_env.setenv("OIDC_CLIENT_SECRET", "s3cret")
    oidc_env.setenv("OIDC_ISSUER", "https://sso.example.com")
    oidc_env.delenv("OIDC_REDIRECT_URI")
    with pytest.raises(ConfigError, match="OIDC_REDIRECT_URI is required"):
        create_app()
    oidc_env.setenv("OIDC_REDIRECT_URI", "https://portal.example.com/auth/callback")
    oidc_env.setenv("OIDC_ISSUER", "http://sso.example.com")
    with pytest.raises(ConfigError, match="OIDC_ISSUER must be an https URL in production"):
        create_app()
    oidc_env.setenv("OIDC_ALLOW_HTTP_ISSUER", "true")  # the explicit opt-out, for tests
    assert create_app().config["OIDC_ISSUER"] == "http://sso.example.com"


ID_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /auth/callback?code=Qm9vbXNoYWth-1&state=xyz&iss=http",
            "GET /auth/callback?code=…REDACTED&state=…REDACTED&iss=http",
        ),
        (f"token {ID_TOKEN} refused", "token …REDACTED-TOKEN refused"),
        (f"?id_token_hint={ID_TOKEN}&x=1", "?id_token_hint=…REDACTED&x=1"),
        ("barcode=12 postcode=AB1", "barcode=12 postcode=AB1"),
    ],
)
def test_redact_masks_callback_codes_and_tokens(text, expected):
    assert redact(text) == expected


def test_the_client_secret_never_reaches_the_logs(oidc_env):
    oidc_env.setenv("OIDC_ISSUER", "https://sso.example.com")
    oidc_env.setenv("OIDC_CLIENT_ID", "portal")
    oidc_env.setenv("OIDC_CLIENT_SECRET", "client-secret-0f9e8d7c")
    create_app()
    handler = next(h for h in logging.getLogger("app").handlers if hasattr(h, "_portal_handler"))
    captured = io.StringIO()
    original = handler.setStream(captured)
    try:
        logging.getLogger("app.auth.oidc").warning("token request: client-secret-0f9e8d7c")
    finally:
        handler.setStream(original)
    assert "client-secret-0f9e8d7c" not in captured.getvalue()
    assert "token request: sk-\\u2026REDACTED" in captured.getvalue()  # JSON-escaped …


def test_filter_masks_a_token_inside_an_exception():
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed: %s", None, None)
    record.args = (ValueError(f"bad id_token {ID_TOKEN}"),)
    RedactingFilter().filter(record)
    assert ID_TOKEN not in record.getMessage() and "REDACTED-TOKEN" in record.getMessage()
