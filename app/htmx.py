"""One place decides whether a request gets a whole page or just a fragment."""

from __future__ import annotations

from flask import Response, make_response, render_template

from app.extensions import htmx


def is_partial() -> bool:
    """True for htmx swaps; boosted navigations and history restores need the whole page."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_partial(page: str, partial: str, status: int = 200, **context) -> Response:
    """Render ``partial`` alone for htmx swaps and ``page`` (which includes it) otherwise."""
    template = partial if is_partial() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    if is_partial() and 400 <= status < 500:
        # Refused input is shown, but only answered views enter the history: Back and
        # Forward then never land on an address whose page the browser never had.
        response.headers["HX-Push-Url"] = "false"
    return response
