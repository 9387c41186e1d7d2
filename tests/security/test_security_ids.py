"""Ids in paths and query parameters: ASCII digits within the id columns' range, or no such id.

Werkzeug's ``int`` converter and ``str.isdigit()`` accept every Unicode digit, so "/keys/３/revoke"
used to open key 3 and "?key=²" crashed ``int()``; ids beyond the column type crashed the
driver. Routes come from ``app.url_map`` (as in test_security_ownership.py), so a new route with
an id is covered without editing this file. Runs on SQLite and, in scripts/test, on PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from security_routes import rules, url

from app.extensions import db
from app.ids import MAX_ID, parse_id

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")  # int() reads these
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # and these
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")  # isdigit() but not int()

# Stand-ins replaced by the spelling under test (distinct from any real id).
KEY_MARK, USER_MARK = 7777771, 8888881


def bad_spellings(real_id: int) -> list[str]:
    """Ways to write something that is not an id, several of them spelling ``real_id``."""
    digits = str(real_id)
    return [
        "²",
        "３",
        "99999999999999999999",
        "-1",
        "0x1",
        " 1",
        digits.translate(FULLWIDTH),
        digits.translate(ARABIC_INDIC),
        digits.translate(SUPERSCRIPT),
        str(MAX_ID + 1),  # beyond PostgreSQL's INTEGER
        "0",
        "0" + digits,
        "+" + digits,
        digits + " ",
        "1e3",
    ]


def test_parse_id_accepts_only_plain_ascii_ids_in_range():
    assert parse_id("1") == 1 and parse_id("42") == 42 and parse_id(str(MAX_ID)) == MAX_ID
    for raw in bad_spellings(3) + [None, "", "1" * 5000, "abc", "1.0", "1_000"]:
        assert parse_id(raw) is None, raw


def test_id_bound_matches_the_id_columns(app):
    """MAX_ID is INTEGER's range: a BIGINT id column would need MAX_ID = 2**63 - 1."""
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if column.primary_key or column.foreign_keys:
                    assert isinstance(column.type, sa.Integer), (table.name, column.name)
                    assert not isinstance(column.type, sa.BigInteger), (table.name, column.name)
    assert MAX_ID == 2**31 - 1


@pytest.fixture
def admin_with_keys(client, sign_in, make_user, make_key):
    """A signed-in admin with three active keys (ids 1..3 on a fresh schema)."""
    admin = make_user("admin@example.com", is_admin=True)
    keys = [make_key(admin, f"label-{n}") for n in range(3)]
    sign_in("admin@example.com")
    return admin, keys


def _id_routes(app, method: str):
    return [rule for rule in rules(app, method) if rule.arguments]


def _spelled(rule, argument: str, spelling: str, *, key_id: int, user_id: int) -> str:
    """The rule's path with ``argument`` written as ``spelling`` and the others valid."""
    marks = {"key_id": KEY_MARK, "user_id": USER_MARK}
    path = url(
        rule,
        key_id=KEY_MARK if argument == "key_id" else key_id,
        user_id=USER_MARK if argument == "user_id" else user_id,
    )
    return path.replace(f"/{marks[argument]}", "/" + quote(spelling, safe=""), 1)


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_malformed_path_ids_are_404_on_every_route(
    app, client, admin_with_keys, sim, csrf_token, hx
):
    admin, keys = admin_with_keys
    target = keys[-1]
    headers = {"HX-Request": "true"} if hx else {}
    token = csrf_token()
    covered = set()
    for method in ("GET", "POST"):
        for rule in _id_routes(app, method):
            for argument in rule.arguments:
                real = target.id if argument == "key_id" else admin.id
                for spelling in bad_spellings(real):
                    path = _spelled(rule, argument, spelling, key_id=target.id, user_id=admin.id)
                    if method == "GET":
                        response = client.get(path, headers=headers)
                    else:
                        response = client.post(path, data={"csrf_token": token}, headers=headers)
                    where = f"{method} {path} ({spelling!r})"
                    assert response.status_code == 404, where
                    body = response.get_data(as_text=True)
                    assert target.label not in body, where
                    covered.add((method, rule.endpoint))
    assert {("GET", "keys.revoke_confirm"), ("POST", "keys.revoke")} <= covered
    assert {("GET", "admin.user_keys"), ("POST", "admin.revoke")} <= covered
    assert all(k.token in sim.keys for k in keys)  # nothing was revoked


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_malformed_key_parameter_on_every_get_route(app, client, admin_with_keys, hx):
    """``?key=``: a form error (400) on the usage pages, 400 JSON on the exports, never an id."""
    admin, keys = admin_with_keys
    target = keys[-1]
    headers = {"HX-Request": "true"} if hx else {}
    readers = {"usage.index", "admin.usage", "usage.export_csv", "usage.export_json"}
    seen = set()
    for rule in rules(app, "GET"):
        base = url(rule, key_id=target.id, user_id=admin.id)
        for spelling in bad_spellings(target.id):
            path = f"{base}?key={quote(spelling, safe='')}&preset=7d"
            response = client.get(path, headers=headers)
            where = f"{path} ({spelling!r})"
            assert response.status_code < 500, where
            if rule.endpoint not in readers:
                continue
            seen.add(rule.endpoint)
            assert response.status_code == 400, where
            if rule.endpoint.startswith("usage.export"):
                assert response.is_json, where
                assert "Key must be one of your keys" in response.json["error"], where
            else:
                assert "Key must be one of your keys" in response.get_data(as_text=True), where
    assert seen == readers


def test_malformed_admin_user_parameter_is_404(client, admin_with_keys):
    admin, keys = admin_with_keys
    assert client.get(f"/admin/usage?user={admin.id}").status_code == 200
    for spelling in bad_spellings(admin.id):
        response = client.get(f"/admin/usage?user={quote(spelling, safe='')}")
        assert response.status_code == 404, spelling
        assert "There is no user with this id." in response.get_data(as_text=True)


def test_malformed_audit_page_number_shows_the_first_page(app, client, admin_with_keys):
    from app import audit
    from app.models import User

    admin, keys = admin_with_keys
    with app.app_context():
        actor = db.session.get(User, admin.id)
        for n in range(120):  # three pages of 50
            audit.record("test.event", actor=actor, detail={"n": n}, commit=False)
        db.session.commit()
    assert "page 3 of 3" in client.get("/admin/audit?page=3").get_data(as_text=True)
    for spelling in bad_spellings(3):
        response = client.get(f"/admin/audit?page={quote(spelling, safe='')}")
        assert response.status_code == 200, spelling
        assert "page 1 of 3" in response.get_data(as_text=True), spelling
