"""Error pages: a whole page for normal requests, a small fragment for htmx swaps."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from app.db_errors import is_unavailable
from app.extensions import db
from app.htmx import is_partial

DATABASE_UNAVAILABLE = "The portal's database is unavailable; nothing was changed."
CSRF_REFUSED = "The form has expired or is missing its CSRF token. Reload the page and try again."


def _render(status: int, title: str, message: str):
    template = "errors/_error.html" if is_partial() else "errors/error.html"
    response = make_response(
        render_template(template, status=status, title=title, message=message), status
    )
    # Page and fragment share the URL: caches must key on HX-Request (as render_page_or_partial).
    response.vary.add("HX-Request")
    if is_partial():
        response.headers["HX-Push-Url"] = "false"  # an error never enters the history
    return response


NOT_FOUND = (
    "There is nothing here: the page does not exist, or what it shows is not yours to see. "
    "Check the address, or go back to your keys."
)


def handle_http_error(error: HTTPException):
    description = error.description or ""
    if isinstance(error, NotFound) and description == NotFound.description:
        description = NOT_FOUND  # the portal's words, not Werkzeug's generic text
    return _render(error.code or 500, error.name, description)


def handle_csrf_error(error: CSRFError):
    """One message for every refusal reason (missing, wrong, from another session)."""
    return _render(400, error.name, CSRF_REFUSED)


# Endpoints whose callers read JSON (scripts downloading exports, health probes).
JSON_ENDPOINTS = frozenset({"usage.export_csv", "usage.export_json", "main.healthz", "main.readyz"})


def wants_json() -> bool:
    """JSON errors for the JSON endpoints and for callers that send or ask for JSON."""
    return (
        request.endpoint in JSON_ENDPOINTS
        or request.is_json
        or request.accept_mimetypes.best == "application/json"
    )


def handle_too_large(error: RequestEntityTooLarge):
    limit_kb = current_app.config["MAX_CONTENT_LENGTH"] // 1024
    message = (
        f"What you sent is larger than the {limit_kb} KB the portal accepts, so it was not "
        "read and nothing was changed."
    )
    if wants_json():
        response = jsonify(error=message)
        response.status_code = 413
        return response
    return _render(413, "Request too large", message)


def handle_unexpected(error: Exception):
    db.session.rollback()
    from flask import current_app

    current_app.logger.exception("unhandled error")
    return _render(500, "Something went wrong", "The portal hit an unexpected error. Try again.")


def handle_database_error(error: sa.exc.SQLAlchemyError):
    """503 when the database cannot serve (down, read-only, locked too long); else a bug: 500."""
    if not is_unavailable(error):
        return handle_unexpected(error)
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        pass  # the connection is gone; the session is discarded at the end of the request
    # The signed-in user's attributes were expired by the rollback; reloading them for the
    # page header would hit the same failure.
    g.user = None
    orig = getattr(error, "orig", None) or error
    current_app.logger.error("database unavailable: %s: %s", type(orig).__name__, orig)
    if wants_json():
        response = jsonify(error=DATABASE_UNAVAILABLE)
        response.status_code = 503
        return response
    return _render(503, "Database unavailable", DATABASE_UNAVAILABLE)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(RequestEntityTooLarge, handle_too_large)
    app.register_error_handler(sa.exc.SQLAlchemyError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
