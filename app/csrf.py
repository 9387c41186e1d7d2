"""CSRF protection for every state-changing request.

The token lives in the session; pages carry it in ``<meta name="csrf-token">`` and in a hidden
``csrf_token`` field of every form. htmx sends it as the ``X-CSRFToken`` header (set once on
``<body hx-headers>``), plain forms as the form field.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_KEY = "_csrf_token"


def csrf_token() -> str:
    """The session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    sent = request.headers.get("X-CSRFToken") or request.form.get("csrf_token")
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        abort(
            400,
            description="The form has expired or is missing its CSRF token. "
            "Reload the page and try again.",
        )


def init_app(app: Flask) -> None:
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
