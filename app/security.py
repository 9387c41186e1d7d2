"""Security headers on every response, and the real client address on request log lines.

The pages use no inline scripts or styles, so the policy needs no 'unsafe-inline'. htmx is
configured (meta htmx-config) not to inject its indicator styles and not to eval.
"""

from __future__ import annotations

import logging

from flask import Flask, has_request_context

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


class ClientAddressFilter(logging.Filter):
    """Adds ``remote_addr`` (the client behind the trusted proxy) to request log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "remote_addr"):
            from app.auth.session import client_address

            record.remote_addr = client_address()
        return True


def init_app(app: Flask) -> None:
    """Register the header hook (every response, errors included) and the log filter."""

    @app.after_request
    def _security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    request_log = logging.getLogger("app.request")
    if not any(isinstance(f, ClientAddressFilter) for f in request_log.filters):
        request_log.addFilter(ClientAddressFilter())
