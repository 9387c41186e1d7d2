"""On SQLite, SAVEPOINTs nest inside one real transaction (app/sqlite.py), as on PostgreSQL;
file databases run in WAL mode with a busy timeout."""

from __future__ import annotations

import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import ApiKey, User
from app.services.tokens import store_token_if_missing


def test_nested_token_writes_roll_back_together(make_config, tmp_path):
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/tx.sqlite"))
    with app.app_context():
        db.create_all()
        user = User(email="a@example.com", litellm_user_id="a@example.com")
        db.session.add(user)
        db.session.flush()
        for label in ("one", "two"):
            db.session.add(ApiKey(user_id=user.id, alias=f"a--{label}", label=label))
        db.session.commit()
        ids = db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id)).all()

        # Two rows written inside savepoints, then the outer transaction is abandoned.
        assert store_token_if_missing(ids[0], "a" * 64, commit=False)
        assert store_token_if_missing(ids[1], "b" * 64, commit=False)
        db.session.rollback()

        stored = db.session.scalars(sa.select(ApiKey.litellm_token_id)).all()
        assert stored == [None, None]  # pysqlite's default would have committed each savepoint
        db.session.remove()
        db.engine.dispose()


def test_foreign_keys_are_enforced_on_sqlite(make_config, tmp_path):
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/fk.sqlite"))
    with app.app_context():
        db.create_all()
        db.session.add(ApiKey(user_id=999, alias="orphan", label="orphan"))
        try:
            db.session.commit()
            committed = True
        except sa.exc.IntegrityError:
            db.session.rollback()
            committed = False
        assert committed is False
        db.session.remove()
        db.engine.dispose()


def test_file_databases_use_wal_and_wait_for_the_write_lock(make_config, tmp_path):
    """Readers never block the writer, and a writer queues instead of failing at once."""
    from app.sqlite import BUSY_TIMEOUT_MS

    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/wal.sqlite"))
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS >= 5000
        db.engine.dispose()
