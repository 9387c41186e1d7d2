"""Security headers on every response, request-body limits, and the real client address on
request log lines.

The pages use no inline scripts or styles, so the policy needs no 'unsafe-inline'. htmx is
configured (meta htmx-config) not to inject its indicator styles and not to eval.
"""

from __future__ import annotations

import io
import logging

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.exceptions import RequestEntityTooLarge

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

# Production only: a development server on plain http must stay reachable. No includeSubDomains:
# the portal cannot know what else runs under its parent domain.
HSTS = "max-age=31536000"

log = logging.getLogger("app.security")


class ClientAddressFilter(logging.Filter):
    """Adds ``remote_addr`` (the client behind the trusted proxy) to request log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "remote_addr"):
            from app.auth.session import client_address

            record.remote_addr = client_address()
        return True


class ChunkedBodyLimit:
    """WSGI middleware giving a chunked body (no Content-Length) a length the app can check.

    It reads at most ``MAX_CONTENT_LENGTH + 1`` bytes and hands the app that much with a
    Content-Length, so an oversized body is refused like any other (``refuse_large_bodies``).
    Without it Werkzeug stops reading a chunked urlencoded form at the limit without a word and
    parses what it got.
    """

    def __init__(self, wsgi_app, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ, start_response):
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        part = stream.read(size - len(data))
        if not part:
            break
        data += part
    return bytes(data)


def refuse_large_bodies() -> None:
    """413 before reading a body whose Content-Length is over ``MAX_CONTENT_LENGTH``.

    Werkzeug enforces the limit only when a view reads the form; this covers every route.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        raise RequestEntityTooLarge()


def _personal_data_not_shared(response) -> None:
    """Everything a signed-in user sees (at least their email in the header) is theirs alone:
    ``private`` keeps shared caches from storing it. A view's ``no-store`` (secrets, admin,
    exports) already keeps every cache from storing it and is left as the view set it."""
    if g.get("user") is None or request.endpoint == "static":
        return
    if response.cache_control.no_store:
        return
    response.cache_control.public = False
    response.cache_control.private = True


def _warn_if_every_peer_is_trusted(app: Flask) -> None:
    if "*" in app.config["TRUSTED_PROXY_IPS"]:
        log.warning(
            "TRUSTED_PROXY_IPS=* trusts every peer: any client that reaches the portal can set "
            "%s (sign in as anyone) and X-Forwarded-For",
            app.config["AUTH_HEADER"],
        )


def init_app(app: Flask) -> None:
    """Register the body limit, the header hook (every response, errors included), the log
    filter, and warn at start-up when every peer may act as the sign-in proxy."""
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app)
    app.before_request(refuse_large_bodies)
    production = app.config.get("PORTAL_ENV") == "production"

    @app.after_request
    def _security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if production:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        _personal_data_not_shared(response)
        return response

    _warn_if_every_peer_is_trusted(app)

    request_log = logging.getLogger("app.request")
    if not any(isinstance(f, ClientAddressFilter) for f in request_log.filters):
        request_log.addFilter(ClientAddressFilter())
