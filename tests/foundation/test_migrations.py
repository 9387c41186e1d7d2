"""Migrations up and down on SQLite and PostgreSQL, with existing rows kept.

Revision 0001 is the schema deployments had before the token id column; 0002 adds only
``api_keys.litellm_token_id`` with its unique index; 0003 adds audit and rate-limit tables;
0004 the one-row table /readyz writes to; 0005 renames ``api_keys.name`` (the LiteLLM alias) to
``api_keys.alias``; 0006 adds ``api_key_tokens`` (every token id a key has had); 0007 the
reconcile columns; 0008 ``api_keys.budget_duration`` (the key's budget window).
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade as _downgrade
from flask_migrate import upgrade as _upgrade

from app import create_app
from app.config import TestingConfig
from app.extensions import db


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """A brand-new empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrations.sqlite"
        return
    base = sa.make_url(request.getfixturevalue("postgres_url"))
    name = f"migr_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        base.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def upgrade(revision: str) -> None:
    # End the session's transaction first: on PostgreSQL its read locks would block ALTER TABLE.
    db.session.remove()
    _upgrade(revision=revision)


def downgrade(revision: str) -> None:
    db.session.remove()
    _downgrade(revision=revision)


@contextmanager
def _app_for(url: str):
    """An app context on ``url``; its connections are closed on the way out, even on failure."""
    config = TestingConfig()
    config.SQLALCHEMY_DATABASE_URI = url
    config.SQLALCHEMY_ENGINE_OPTIONS = {"poolclass": sa.pool.NullPool}
    app = create_app(config)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


def _indexes(table: str) -> dict[str, bool]:
    return {i["name"]: bool(i["unique"]) for i in sa.inspect(db.engine).get_indexes(table)}


def _insert_old_rows() -> None:
    db.session.execute(
        sa.text(
            "INSERT INTO users (id, email, litellm_user_id, display_name, is_admin, created_at) "
            "VALUES (1, 'alice@example.com', 'alice@example.com', 'alice', false, "
            "'2025-01-02 03:04:05+00')"
        )
    )
    db.session.execute(
        sa.text(
            "INSERT INTO api_keys (id, user_id, name, label, key_prefix, created_at) VALUES "
            "(1, 1, 'alice@example.com--laptop', 'laptop', 'sk-...abcd', '2025-01-02 03:04:05+00'),"
            "(2, 1, 'alice@example.com--ci', 'ci', 'sk-...wxyz', '2025-01-03 03:04:05+00')"
        )
    )
    db.session.commit()


def _key_rows():
    """(id, LiteLLM alias, label) of every key, under the alias column's name at this revision."""
    alias = "alias" if "alias" in _columns("api_keys") else "name"
    return db.session.execute(sa.text(f"SELECT id, {alias}, label FROM api_keys ORDER BY id")).all()


def test_upgrade_downgrade_upgrade_keeps_rows(empty_database):
    with _app_for(empty_database):
        upgrade(revision="0001")
        assert "litellm_token_id" not in _columns("api_keys")
        _insert_old_rows()

        upgrade(revision="head")
        assert "litellm_token_id" in _columns("api_keys")
        assert _indexes("api_keys")["ix_api_keys_litellm_token_id"] is True
        assert _key_rows() == [
            (1, "alice@example.com--laptop", "laptop"),
            (2, "alice@example.com--ci", "ci"),
        ]
        token = "a" * 64
        db.session.execute(
            sa.text("UPDATE api_keys SET litellm_token_id = :t WHERE id = 1"), {"t": token}
        )
        db.session.commit()
        # The unique index is real: a second row cannot carry the same token id.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.text("UPDATE api_keys SET litellm_token_id = :t WHERE id = 2"), {"t": token}
            )
            db.session.commit()
        db.session.rollback()

        downgrade(revision="0001")
        assert "litellm_token_id" not in _columns("api_keys")
        assert "ix_api_keys_litellm_token_id" not in _indexes("api_keys")
        assert _key_rows() == [
            (1, "alice@example.com--laptop", "laptop"),
            (2, "alice@example.com--ci", "ci"),
        ]

        upgrade(revision="head")
        assert "litellm_token_id" in _columns("api_keys")
        rows = db.session.execute(
            sa.text("SELECT id, litellm_token_id FROM api_keys ORDER BY id")
        ).all()
        assert rows == [(1, None), (2, None)]  # kept, waiting for backfill-tokens


def test_revision_0002_only_adds_the_token_column(empty_database):
    with _app_for(empty_database):
        upgrade(revision="0001")
        before = {t: _columns(t) for t in sa.inspect(db.engine).get_table_names()}
        upgrade(revision="0002")
        after = {t: _columns(t) for t in sa.inspect(db.engine).get_table_names()}
        assert set(after) == set(before)
        assert after["api_keys"] - before["api_keys"] == {"litellm_token_id"}
        assert {t: c for t, c in after.items() if t != "api_keys"} == {
            t: c for t, c in before.items() if t != "api_keys"
        }
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_models_match_migrations(empty_database):
    """Nothing left for autogenerate: the committed scripts describe the models exactly."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with _app_for(empty_database):
        upgrade(revision="head")
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == []


def test_revision_0004_only_adds_the_readiness_probe(empty_database):
    with _app_for(empty_database):
        upgrade(revision="0003")
        before = set(sa.inspect(db.engine).get_table_names())
        upgrade(revision="0004")
        after = set(sa.inspect(db.engine).get_table_names())
        assert after - before == {"readiness_probe"}
        assert _columns("readiness_probe") == {"id", "checked_at"}
        downgrade(revision="0003")
        assert set(sa.inspect(db.engine).get_table_names()) == before


def _unique_constraints(table: str) -> dict[str, list[str]]:
    constraints = sa.inspect(db.engine).get_unique_constraints(table)
    return {c["name"]: c["column_names"] for c in constraints}


def test_revision_0005_renames_name_to_alias_keeping_rows_and_uniqueness(empty_database):
    rows = [(1, "alice@example.com--laptop", "laptop"), (2, "alice@example.com--ci", "ci")]
    with _app_for(empty_database):
        upgrade(revision="0001")
        _insert_old_rows()
        upgrade(revision="0004")
        before = _columns("api_keys")
        upgrade(revision="0005")
        assert _columns("api_keys") == before - {"name"} | {"alias"}
        assert _unique_constraints("api_keys")["uq_api_keys_alias"] == ["alias"]
        assert "uq_api_keys_name" not in _unique_constraints("api_keys")
        assert _key_rows() == rows
        # Still unique across the whole proxy, like LiteLLM's key_alias.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.text(
                    "INSERT INTO api_keys (id, user_id, alias, label, created_at) VALUES "
                    "(3, 1, 'alice@example.com--ci', 'other', '2025-01-04 03:04:05+00')"
                )
            )
            db.session.commit()
        db.session.rollback()

        downgrade(revision="0004")
        assert _columns("api_keys") == before
        assert _unique_constraints("api_keys")["uq_api_keys_name"] == ["name"]
        assert _key_rows() == rows


def test_revision_0006_copies_every_stored_token_id_into_the_lineage(empty_database):
    with _app_for(empty_database):
        upgrade(revision="0001")
        _insert_old_rows()
        upgrade(revision="0005")
        db.session.execute(
            sa.text("UPDATE api_keys SET litellm_token_id = :t WHERE id = 1"), {"t": "a" * 64}
        )
        db.session.commit()
        upgrade(revision="0006")
        rows = db.session.execute(
            sa.text(
                "SELECT api_key_id, token_id, became_current_at, retired_at, source "
                "FROM api_key_tokens ORDER BY id"
            )
        ).all()
        assert len(rows) == 1  # key 2 has no token id yet: backfill-tokens adds it later
        key_id, token, became_current, retired, source = rows[0]
        assert (key_id, token, retired, source) == (1, "a" * 64, None, "migration")
        assert str(became_current).startswith("2025-01-02 03:04:05")
        # A token id belongs to one key, ever.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.text(
                    "INSERT INTO api_key_tokens (api_key_id, token_id, became_current_at, source) "
                    "VALUES (2, :t, '2025-01-05 00:00:00+00', 'backfill')"
                ),
                {"t": "a" * 64},
            )
            db.session.commit()
        db.session.rollback()
        downgrade(revision="0005")
        assert "api_key_tokens" not in sa.inspect(db.engine).get_table_names()
        assert db.session.scalar(sa.text("SELECT litellm_token_id FROM api_keys WHERE id = 1"))


def test_revision_0008_adds_the_budget_window_keeping_rows(empty_database):
    rows = [(1, "alice@example.com--laptop", "laptop"), (2, "alice@example.com--ci", "ci")]
    with _app_for(empty_database):
        upgrade(revision="0001")
        _insert_old_rows()
        upgrade(revision="0007")
        before = _columns("api_keys")
        upgrade(revision="0008")
        assert _columns("api_keys") == before | {"budget_duration"}
        assert _key_rows() == rows
        assert db.session.scalars(sa.text("SELECT budget_duration FROM api_keys")).all() == [
            None,
            None,
        ]
        downgrade(revision="0007")
        assert _columns("api_keys") == before
        assert _key_rows() == rows
