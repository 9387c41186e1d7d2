"""OpenID Connect sign-in (``AUTH_MODE=oidc``) through Authlib's Flask client.

Authlib does the protocol: discovery from ``OIDC_ISSUER``, the authorization code flow with PKCE
(S256), state and nonce kept in the session and checked on the way back, and the ID token's
signature (the provider's JWKS), issuer, audience and expiry verified. This module maps the
verified claims to a portal user and turns every failure into a page that says what happened.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, current_app, request, url_for
from joserfc.errors import JoseError
from werkzeug.exceptions import HTTPException

from app.emails import normalize_email
from app.security import CSP

log = logging.getLogger("app.auth.oidc")
PROVIDER = "oidc"
ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class ProviderUnavailable(HTTPException):
    code = 503
    name = "Sign-in provider unavailable"
    description = (
        "The portal could not reach your organisation's sign-in provider. Nothing was changed; "
        "try signing in again in a minute."
    )


class SignInRefused(HTTPException):
    code = 403
    name = "Sign-in refused"


class SignInFailed(HTTPException):
    code = 400
    name = "Sign-in failed"


@dataclass(frozen=True)
class Identity:
    email: str
    groups: tuple[str, ...]  # the groups claim, for OIDC_ADMIN_GROUPS (checked every request)


def init_app(app: Flask) -> None:
    """Register the provider on a per-app Authlib registry (tests build many apps)."""
    if app.config["AUTH_MODE"] != "oidc":
        return
    oauth = OAuth(app)
    oauth.register(
        PROVIDER,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=app.config["OIDC_ISSUER"].rstrip("/")
        + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "default_timeout": app.config["OIDC_TIMEOUT"],
        },
    )


def _client():
    return current_app.extensions["authlib.integrations.flask_client"].create_client(PROVIDER)


def _redirect_uri() -> str:
    # Derived from the request: Host as the proxy forwarded it, the scheme from
    # X-Forwarded-Proto when gunicorn trusts the peer (FORWARDED_ALLOW_IPS).
    return current_app.config["OIDC_REDIRECT_URI"] or url_for("auth.oidc_callback", _external=True)


def start_sign_in():
    """The redirect to the provider's sign-in page (state, nonce and PKCE verifier in session)."""
    try:
        return _client().authorize_redirect(_redirect_uri())
    except (requests.RequestException, ValueError) as exc:
        log.warning("OIDC discovery failed: %s", type(exc).__name__)
        raise ProviderUnavailable() from None


def finish_sign_in() -> tuple[Identity, str]:
    """Verify the provider's answer on the callback; return who signed in and the ID token."""
    error = request.args.get("error")
    if error:
        # Only an OAuth error code is shown: anyone can craft this URL and its text.
        error = error if ERROR_CODE.fullmatch(error) else "unknown_error"
        log.warning("OIDC provider refused the sign-in: %s", error)
        raise SignInRefused(
            "Your organisation's sign-in provider did not sign you in "
            f"({error}). Try again, or ask your administrator for access."
        )
    client = _client()
    try:
        # Authlib alone checks the audience only through "azp"; name the expected values.
        claims_options = {
            "iss": {"essential": True, "values": [client.load_server_metadata()["issuer"]]},
            "aud": {"essential": True, "values": [current_app.config["OIDC_CLIENT_ID"]]},
        }
        token = client.authorize_access_token(claims_options=claims_options)
    except requests.RequestException as exc:
        log.warning("OIDC token request failed: %s", type(exc).__name__)
        raise ProviderUnavailable() from None
    except (OAuthError, JoseError, ValueError, KeyError) as exc:
        # The provider's error code or the failed check's name: never the code or a token.
        reason = getattr(exc, "error", None) or type(exc).__name__
        log.warning("OIDC callback refused: %s (%s)", reason, getattr(exc, "description", ""))
        raise SignInFailed(
            "The answer from the sign-in provider could not be verified (it was stale, reused "
            "or altered), so you are not signed in. Start again from the portal."
        ) from None
    claims = token.get("userinfo")
    if not claims:
        log.warning("OIDC callback refused: no ID token")
        raise SignInFailed("The sign-in provider sent no ID token, so you are not signed in.")
    return _identity(claims), token["id_token"]


def _identity(claims) -> Identity:
    raw_email = claims.get("email")
    email = normalize_email(raw_email)
    if email is None and isinstance(raw_email, str) and raw_email.strip():
        log.warning("OIDC sign-in refused: the email claim is not an address the portal accepts")
        raise SignInRefused(
            "The email address your sign-in provider shared cannot be used with the portal: "
            "it is malformed or has characters that stand for other letters. Ask your "
            "administrator."
        )
    if raw_email is not None and not isinstance(raw_email, str):
        raise SignInRefused(_malformed_claim("email"))
    if email is None:
        raise SignInRefused(
            "Your sign-in provider did not share an email address with the portal; ask your "
            "administrator to release the email claim (scope: email)."
        )
    if (
        claims.get("email_verified") is not True
        and not current_app.config["OIDC_ALLOW_UNVERIFIED_EMAIL"]
    ):
        log.warning("OIDC sign-in refused: email not verified")
        raise SignInRefused(
            f"Your email address {email} is not verified with your sign-in provider. Verify it "
            "there, then sign in again."
        )
    claim = current_app.config["OIDC_GROUPS_CLAIM"]
    groups = claims.get(claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise SignInRefused(_malformed_claim(claim))
    return Identity(email=email, groups=tuple(groups))


def _malformed_claim(name: str) -> str:
    log.warning("OIDC sign-in refused: the %s claim has the wrong type", name)
    return (
        f"Your sign-in provider sent the “{name}” claim in a form the portal cannot read, so "
        "you are not signed in. Ask your administrator to check the provider's claim mapping."
    )


def sign_out_url(id_token: str | None) -> str | None:
    """The provider's end-session URL (RP-initiated logout), or None when it has none."""
    try:
        metadata = _client().load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        log.warning("OIDC discovery failed at sign-out: %s", type(exc).__name__)
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    return _client().create_logout_url(
        post_logout_redirect_uri=url_for("auth.signed_out", _external=True),
        id_token_hint=id_token,
        client_id=current_app.config["OIDC_CLIENT_ID"],
    )["url"]


def allow_provider_sign_out(response: Response) -> Response:
    """Let the sign-out form's redirect reach the provider: browsers apply ``form-action`` to
    the redirects that follow a form submission too."""
    if current_app.config["AUTH_MODE"] == "oidc":
        issuer = urlsplit(current_app.config["OIDC_ISSUER"])
        response.headers.setdefault(
            "Content-Security-Policy",
            CSP.replace(
                "form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}"
            ),
        )
    return response
