"""Enumerating the app's routes, so new routes are covered by the security tests automatically."""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.routing import Rule

# Path arguments the tests know how to fill; any other id-like argument fails the tests.
KEY_ARGS = {"key_id"}
USER_ARGS = {"user_id"}
ID_LIKE = re.compile(r"(^id$|_id$|^key|token|uuid|pk$)", re.IGNORECASE)
SKIP_ENDPOINTS = {"static"}


def rules(app: Flask, method: str) -> list[Rule]:
    """Every rule answering ``method``, static files excluded."""
    return [
        r
        for r in app.url_map.iter_rules()
        if method in (r.methods or set()) and r.endpoint not in SKIP_ENDPOINTS
    ]


def unknown_id_args(rule: Rule) -> set[str]:
    """Id-like path arguments no test knows how to fill (must stay empty)."""
    return {a for a in rule.arguments if a not in KEY_ARGS | USER_ARGS}


def url(rule: Rule, *, key_id: int, user_id: int) -> str:
    """The rule's path with every key argument = ``key_id`` and user argument = ``user_id``."""
    values = {}
    for arg in rule.arguments:
        values[arg] = key_id if arg in KEY_ARGS else user_id
    return rule.build(values, append_unknown=False)[1]
