"""Structured logs: one line per request and one per LiteLLM call, secrets redacted.

Lines are JSON objects on stderr (python-json-logger) so any log shipper can parse them. The
redacting filter sits on the handler, so nothing reaches the output without passing through it.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request
from pythonjsonlogger import json as json_logging

from app.services.redact import RedactingFilter


class JsonFormatter(json_logging.JsonFormatter):
    """``{"ts":…, "level":…, "logger":…, "msg":…, <extra= fields>, "exc":…}`` per record."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
            rename_fields={
                "asctime": "ts",
                "levelname": "level",
                "name": "logger",
                "message": "msg",
                "exc_info": "exc",
            },
        )

    def add_fields(self, log_data, record, message_dict) -> None:
        # RedactingFilter leaves the redacted traceback in exc_text; the library would print the
        # one it renders again from exc_info, raw (secrets in exception messages included).
        if record.exc_text:
            message_dict = {**message_dict, "exc_info": record.exc_text}
        super().add_fields(log_data, record, message_dict)


def _redacting_filter(app: Flask) -> RedactingFilter:
    return RedactingFilter(
        master_key=app.config.get("LITELLM_MASTER_KEY"),
        extra_secrets=(app.config.get("OIDC_CLIENT_SECRET") or "",),
    )


def init_app(app: Flask) -> None:
    """Attach one redacting JSON handler to the ``app`` logger tree and log every request."""
    logger = logging.getLogger("app")
    if not any(getattr(h, "_portal_handler", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._portal_handler = True  # type: ignore[attr-defined]
        handler.setFormatter(JsonFormatter())
        handler.addFilter(_redacting_filter(app))
        logger.addHandler(handler)
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # Flask's own logger (unhandled exceptions) goes through the same redaction.
    for handler in app.logger.handlers:
        handler.addFilter(_redacting_filter(app))

    request_log = logging.getLogger("app.request")
    # The line below is the one line per request; the development server's own access line
    # (``flask run``) would repeat it. Its warnings and errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    @app.before_request
    def _start_timer() -> None:
        g._request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.pop("_request_started", None)
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        user = g.get("user")
        request_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": user.id if user is not None else None,
            },
        )
        return response
