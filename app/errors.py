"""Error pages: a whole page for normal requests, a small fragment for htmx swaps."""

from __future__ import annotations

from flask import Flask, make_response, render_template
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.htmx import is_partial


def _render(status: int, title: str, message: str):
    template = "errors/_error.html" if is_partial() else "errors/error.html"
    response = make_response(
        render_template(template, status=status, title=title, message=message), status
    )
    # Page and fragment share the URL: caches must key on HX-Request (as render_page_or_partial).
    response.vary.add("HX-Request")
    return response


def handle_http_error(error: HTTPException):
    return _render(error.code or 500, error.name, error.description or "")


def handle_unexpected(error: Exception):
    db.session.rollback()
    from flask import current_app

    current_app.logger.exception("unhandled error")
    return _render(500, "Something went wrong", "The portal hit an unexpected error. Try again.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
