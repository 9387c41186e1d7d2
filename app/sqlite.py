"""Make SQLite transactions behave like PostgreSQL's, and let it serve concurrent users.

pysqlite (Python < 3.12) opens a transaction only before INSERT/UPDATE/DELETE, so a SAVEPOINT can
be the outermost transaction and its RELEASE commits: a batch of nested writes would be committed
row by row. SQLAlchemy's documented recipe takes transaction control from the driver and emits
BEGIN itself, so SAVEPOINTs nest inside one real transaction. Foreign keys are switched on too.

Concurrency: the database file is put in WAL mode (readers never block the writer, nor the writer
them) and every connection waits up to ``BUSY_TIMEOUT_MS`` for the write lock. Waiting only helps
a transaction that asks for the lock up front: one that read first and then writes cannot wait
(its snapshot may be stale) and gets "database is locked" at once. Write paths therefore use
:func:`app.transactions.write_transaction`, which begins with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy as sa
from flask import Flask

BEGIN_IMMEDIATE = "sqlite_begin_immediate"  # execution option: start with BEGIN IMMEDIATE
BUSY_TIMEOUT_MS = 10_000  # a write transaction lasts milliseconds; ten seconds is a long queue

log = logging.getLogger("app.sqlite")


def _on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # the driver no longer issues BEGIN on its own
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        # Persistent in the file; an in-memory database stays "memory".
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        # A read-only file cannot switch modes; it can still be read, and writes fail clearly.
        log.warning("SQLite journal_mode=WAL not set: %s", exc)
    cursor.close()


def _on_begin(connection) -> None:
    # An in-memory database shares one connection between sessions (StaticPool); a second
    # session then joins the transaction already open instead of failing.
    if connection.connection.dbapi_connection.in_transaction:
        return
    # Writers that will certainly write (a backfill batch) take the write lock up front, so two
    # of them queue on the busy timeout instead of deadlocking on the SHARED → RESERVED upgrade.
    immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def init_app(app: Flask) -> None:
    """Attach the recipe to every SQLite engine of the app (none for PostgreSQL)."""
    from app.extensions import db

    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        if engine.dialect.name == "sqlite" and not sa.event.contains(
            engine, "connect", _on_connect
        ):
            sa.event.listen(engine, "connect", _on_connect)
            sa.event.listen(engine, "begin", _on_begin)
