"""keys/_token_lineage.html: the secrets a key has had, as the key's page includes it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import render_template

from app.extensions import db
from app.models import ApiKey, ApiKeyToken


def test_the_lineage_lists_every_secret_with_its_dates_and_source(app, make_user, make_key):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop", in_litellm=False)
    at = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
    with app.app_context():
        db.session.add_all(
            [
                ApiKeyToken(
                    api_key_id=key.id, token_id="a1b2c3d4" + "0" * 56, source="created",
                    became_current_at=at, retired_at=at + dt.timedelta(days=3),
                    delete_after=at + dt.timedelta(days=3, hours=1),
                    deleted_at=at + dt.timedelta(days=3, hours=1, minutes=2),
                ),
                ApiKeyToken(
                    api_key_id=key.id, token_id="e5f6a7b8" + "1" * 56, source="rotated",
                    became_current_at=at + dt.timedelta(days=3),
                    retired_at=at + dt.timedelta(days=9),
                    delete_after=at + dt.timedelta(days=10),
                ),
                ApiKeyToken(
                    api_key_id=key.id, token_id="c0ffee00" + "2" * 56, source="external",
                    became_current_at=at + dt.timedelta(days=9),
                ),
            ]
        )  # fmt: skip
        db.session.commit()
        with app.test_request_context():
            html = render_template(
                "keys/_token_lineage.html", key=db.session.scalar(sa.select(ApiKey))
            )
    rows = html.split("<tr>")[2:]
    assert len(rows) == 3
    assert "a1b2c3d4…" in rows[0] and "0" * 56 not in rows[0].split("title=")[0]
    assert "2026-11-02 09:30" in rows[0] and "deleted 2026-11-05 10:32" in rows[0]
    assert "created in the portal" in rows[0]
    assert "e5f6a7b8…" in rows[1] and "works until 2026-11-12 09:30" in rows[1]
    assert "rotated in the portal" in rows[1]
    assert "c0ffee00…" in rows[2] and "current" in rows[2]
    assert "regenerated outside the portal" in rows[2]
