"""Another user's key id answers exactly like a missing one, on EVERY route of the app.

Routes are taken from ``app.url_map``: a new route with a key id (path argument or ``key`` query
parameter) is covered without editing this file, and an id-like argument the test does not know
how to fill fails the test instead of being silently skipped.
"""

from __future__ import annotations

import re

import pytest
from security_routes import ID_LIKE, rules, unknown_id_args, url

MISSING = 987654


@pytest.fixture
def two_users(client, sign_in, make_user, make_key):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    own = make_key(alice, "mine")
    theirs = make_key(bob, "bobs-secret-label")
    sign_in("alice@example.com")
    return alice, bob, own, theirs


# Parts of a body that legitimately differ between two identical requests.
VOLATILE = [
    re.compile(r'name="idempotency_token" value="[^"]+"'),  # one-time form token
    re.compile(r"\b\d\d:\d\d\b"),  # "data as of HH:MM"
]


def _normalized(text: str) -> str:
    for pattern in VOLATILE:
        text = pattern.sub("~", text)
    return text


def _same(a, b, page_text, where: str = "") -> None:
    assert a.status_code == b.status_code, where
    assert _normalized(page_text(a)) == _normalized(page_text(b)), where


def test_every_route_argument_is_known(app):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        for rule in rules(app, method):
            unknown = unknown_id_args(rule)
            assert not unknown, f"{rule.rule}: add {unknown} to tests/security/security_routes.py"


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_other_users_key_id_in_the_path_is_a_404_like_a_missing_one(
    app, client, two_users, sim, csrf_token, page_text, hx
):
    alice, bob, own, theirs = two_users
    headers = {"HX-Request": "true"} if hx else {}
    token = csrf_token()
    covered = 0
    for method in ("GET", "POST"):
        for rule in rules(app, method):
            if not rule.arguments:
                continue
            send = client.get if method == "GET" else client.post
            data = {"csrf_token": token} if method == "POST" else None
            other = send(url(rule, key_id=theirs.id, user_id=bob.id), data=data, headers=headers)
            missing = send(url(rule, key_id=MISSING, user_id=MISSING), data=data, headers=headers)
            assert other.status_code == 404, rule.rule
            _same(other, missing, page_text, rule.rule)
            assert "bobs-secret-label" not in other.get_data(as_text=True)
            covered += 1
    assert covered >= 5  # keys.revoke_confirm/revoke and the admin key routes at least
    assert theirs.token in sim.keys  # nothing was revoked


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_other_users_key_id_as_key_query_parameter(app, client, two_users, page_text, hx):
    """Every GET route: ``?key=<bob's id>`` answers byte for byte like ``?key=<missing id>``."""
    alice, bob, own, theirs = two_users
    headers = {"HX-Request": "true"} if hx else {}
    uses_key = []
    for rule in rules(app, "GET"):
        base = url(rule, key_id=own.id, user_id=alice.id)
        other = client.get(f"{base}?key={theirs.id}&preset=7d", headers=headers)
        missing = client.get(f"{base}?key={MISSING}&preset=7d", headers=headers)
        _same(other, missing, page_text, rule.rule)
        assert "bobs-secret-label" not in other.get_data(as_text=True), rule.rule
        if other.status_code == 404:
            uses_key.append(rule.endpoint)
    # The usage page and both exports read ``key``; admin routes 404 for Alice anyway.
    assert {"usage.index", "usage.export_csv", "usage.export_json"} <= set(uses_key)


def test_id_like_query_parameters_are_only_key(app):
    """Guard for the enumeration above: the portal's id-carrying query parameter is ``key``
    (admin-only routes also take ``user``). A view reading another id-like parameter must be
    added to the test above."""
    import ast
    import pathlib

    found = set()
    for path in pathlib.Path(app.root_path).rglob("*.py"):
        if "litellm_sim" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "getlist")
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr in ("args", "values", "form")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    id_like = {name for name in found if ID_LIKE.search(name)}
    assert id_like <= {"csrf_token", "idempotency_token"}, id_like
