"""Ids in URLs: the one route converter (``<id:key_id>``) and the one query-parameter parser.

An id is written in ASCII digits, without sign, spaces or leading zeros, and lies in the range of
the database's id columns. Werkzeug's ``int`` converter and ``str.isdigit()`` also accept other
Unicode digits ("３", "²"), so "/keys/３/revoke" would open key 3 and "?key=²" crash ``int()``;
ids too large for the column crash the database driver. Both now simply match no row.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

# Primary and foreign keys are INTEGER columns: int4 on PostgreSQL (SQLite's are wider).
MAX_ID = 2**31 - 1
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(raw: str | None) -> int | None:
    """The id written in ``raw``, or None when it is not one (the caller answers 404 or 400)."""
    if not raw or len(raw) > _MAX_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    if raw[0] == "0":  # one spelling per id; also rules out 0
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


class IdConverter(BaseConverter):
    """``<id:name>``: a path segment that is an id; anything else matches no route (404)."""

    # [0-9] rather than \d: in Python's re, \d matches every Unicode digit.
    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        parsed = parse_id(value)
        if parsed is None:
            # Not ValidationError: Werkzeug reports that as 405 when the same path has a rule
            # for another method (GET and POST /keys/<id>/revoke).
            raise NotFound()
        return parsed

    def to_url(self, value: int) -> str:
        return str(int(value))


def init_app(app: Flask) -> None:
    """Register ``<id:…>``; must run before the blueprints add their rules."""
    app.url_map.converters["id"] = IdConverter
