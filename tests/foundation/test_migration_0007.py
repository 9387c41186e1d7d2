"""Revision 0007 only adds nullable api_keys columns (reconcile-keys' copy of LiteLLM's view and
the creating request's id); rows are kept and the request id is unique."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_migrations import (  # the fixtures and helpers of the migration tests
    _app_for,
    _columns,
    _insert_old_rows,
    _key_rows,
    downgrade,
    empty_database,  # noqa: F401  (a fixture)
    upgrade,
)

from app.extensions import db

NEW_COLUMNS = {
    "request_id",
    "litellm_missing_since",
    "litellm_spend",
    "litellm_blocked",
    "litellm_checked_at",
}


def test_revision_0007_adds_the_reconcile_columns_keeping_rows(empty_database):  # noqa: F811
    with _app_for(empty_database):
        upgrade(revision="0001")
        _insert_old_rows()
        upgrade(revision="0005")
        before, rows = _columns("api_keys"), _key_rows()
        upgrade(revision="0007")
        assert _columns("api_keys") - before == NEW_COLUMNS
        assert _key_rows() == rows
        db.session.execute(sa.text("UPDATE api_keys SET request_id = 'r1' WHERE id = 1"))
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.text("UPDATE api_keys SET request_id = 'r1' WHERE id = 2"))
            db.session.commit()
        db.session.rollback()
        downgrade(revision="0005")
        assert _columns("api_keys") == before and _key_rows() == rows
