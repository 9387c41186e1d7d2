"""The admin audit trail: readable columns (who, what, which key, when in one line, details as
fields), filters by user, action and UTC day, and the CSV export of the same filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from app import audit
from app.extensions import db
from app.models import ApiKey, User


@pytest.fixture
def trail(app, make_user, make_key, sign_in):
    """Alice's key with three events on three days; the admin signed in."""
    alice = make_user("alice@example.com")
    key = make_key(alice, "a-rather-long-label-for-the-notebook-integration")
    admin = make_user("admin@example.com", is_admin=True)
    with app.app_context():
        alice_row, admin_row = db.session.get(User, alice.id), db.session.get(User, admin.id)
        key_row = db.session.get(ApiKey, key.id)
        for day, action, actor, detail in (
            (dt.datetime(2026, 11, 1, 9, 5, tzinfo=dt.UTC), "key.create", alice_row,
             {"alias": key.alias, "token_id": key.token}),
            (dt.datetime(2026, 11, 15, 23, 59, tzinfo=dt.UTC), "admin.keys.view", admin_row, None),
            (dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC), "key.revoke", alice_row,
             {"litellm": "deleted", "by_owner": True}),
        ):  # fmt: skip
            event = audit.record(action, actor=actor, target_user=alice_row, target_key=key_row,
                                 detail=detail, commit=False)  # fmt: skip
            event.created_at = day
        db.session.commit()
    sign_in("admin@example.com")
    return key


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr class="audit-row">.*?</tr>', html, re.S)


def test_columns_are_readable(client, trail):
    html = client.get("/admin/audit").get_data(as_text=True)
    rows = _rows(html)
    assert len(rows) == 3
    create = rows[-1]
    assert '<time datetime="2026-11-01T09:05:00' in create and ">2026-11-01 09:05</time>" in create
    # The address as the reader sees it, breakable after its @ and dots only.
    assert 'data-label="Who" class="wrap-email">alice@<wbr>example.<wbr>com' in create
    assert "<code>key.create</code>" in create
    # The key by label and a short token id; the full id only in the title.
    assert f'>{trail.label}</a> <code class="muted small" title="Token id {trail.token}">' in create
    assert f">{trail.token[:10]}…</code>" in create
    assert f"<dt>token id</dt><dd>{trail.token[:10]}…</dd>" in create
    assert "<dt>alias</dt>" in create and "{&#34;" not in create and '{"' not in create
    revoke = rows[0]
    assert "<dt>by owner</dt><dd>yes</dd>" in revoke  # words, not Python's True
    assert "<dt>litellm</dt><dd>deleted</dd>" in revoke


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=key.revoke", ["key.revoke"]),
        ("start=2026-11-15&end=2026-11-15", ["admin.keys.view"]),
        ("start=2026-11-02", ["key.revoke", "admin.keys.view"]),
        ("end=2026-11-15", ["admin.keys.view", "key.create"]),
        ("user=admin@example.com", ["admin.keys.view"]),
        ("user=ALICE@example.com&action=key.create", ["key.create"]),
        ("user=nobody@example.com", []),
    ],
)
def test_filters_by_user_action_and_day(client, trail, query, expected):
    html = client.get(f"/admin/audit?{query}").get_data(as_text=True)
    found = [re.search(r"<code>([a-z.]+)</code>", row).group(1) for row in _rows(html)]
    assert found == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [("start=yesterday", "start"), ("end=2026-13-01", "end"),
     ("start=2026-11-20&end=2026-11-01", "end"),
     # The calendar's ends: the day after 9999-12-31 overflowed (a 500, the CSV an HTML page).
     ("end=9999-12-31", "end"), ("start=0001-01-01", "start")],
)  # fmt: skip
def test_bad_filters_are_a_400_with_messages(client, trail, query, field):
    response = client.get(f"/admin/audit?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="admin-audit-invalid"' in html and not _rows(html)
    export = client.get(f"/admin/audit.csv?{query}")
    assert export.status_code == 400 and export.is_json
    assert field in export.get_json()["fields"]


def test_csv_export_follows_the_filters(client, trail):
    html = client.get("/admin/audit?action=key.create&start=2026-11-01").get_data(as_text=True)
    link = re.search(r'<a id="admin-audit-export"[^>]*href="([^"]+)"', html).group(1)
    assert link == "/admin/audit.csv?action=key.create&amp;start=2026-11-01"

    response = client.get("/admin/audit.csv?action=key.create&start=2026-11-01")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["when_utc", "action", "by", "user", "key_label", "key_token", "detail"]
    assert len(rows) == 2
    when, action, by, user, label, token, detail = rows[1]
    assert (when, action, by, user) == ("2026-11-01 09:05:00", "key.create",
                                        "alice@example.com", "alice@example.com")  # fmt: skip
    assert label == trail.label and token == trail.token and trail.token in detail

    everything = client.get("/admin/audit.csv").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(everything)))) == 4


def test_only_admins_may_export(client, make_user, sign_in):
    make_user("alice@example.com")
    sign_in("alice@example.com")
    assert client.get("/admin/audit.csv").status_code == 404


def test_user_keys_page_has_one_heading_with_the_email(client, trail, app):
    with app.app_context():
        alice_id = db.session.scalar(db.select(User.id).where(User.email == "alice@example.com"))
    html = client.get(f"/admin/users/{alice_id}/keys").get_data(as_text=True)
    assert html.count("Keys of alice@example.com</h") == 1


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(
    app, client, make_user, make_key, sign_in
):
    mallory = make_user("-2+3@example.com")  # an address may start with "-" or "+"
    key = make_key(mallory, "=HYPERLINK(x)")
    make_user("admin@example.com", is_admin=True)
    with app.app_context():
        owner = db.session.get(User, mallory.id)
        target = db.session.get(ApiKey, key.id)
        detail = {"alias": "@SUM(1)"}
        audit.record("key.create", actor=owner, target_user=owner, target_key=target, detail=detail)
    sign_in("admin@example.com")

    text = client.get("/admin/audit.csv").get_data(as_text=True)

    (row,) = [r for r in csv.reader(io.StringIO(text))][1:]
    assert row[2] == row[3] == "'-2+3@example.com"
    assert row[4] == "'=HYPERLINK(x)"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_detail_fields_read_as_words_and_minutes():
    from app.models import AuditEvent
    from app.services.admin import detail_fields

    event = AuditEvent(detail='{"by_owner": false, "grace_end": "2026-12-07 16:12:17.230784", '
                              '"litellm": "deleted"}')  # fmt: skip
    assert detail_fields(event) == (
        ("by owner", "no"), ("grace end", "2026-12-07 16:12 UTC"), ("litellm", "deleted"),
    )  # fmt: skip
