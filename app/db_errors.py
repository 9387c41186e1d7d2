"""Which database errors mean "the database is unavailable" (answered 503, nothing changed)
rather than a bug in the portal (500): no connection, a read-only file or server, a lock
that was not released within the busy timeout, an exhausted connection pool."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

READ_ONLY_SQLSTATE = "25006"  # PostgreSQL: read_only_sql_transaction


def is_read_only(error: BaseException) -> bool:
    """The database refused a write because it (or the volume under it) is read-only."""
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) == READ_ONLY_SQLSTATE:
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_READONLY


def is_unavailable(error: BaseException) -> bool:
    """The database cannot serve right now; retrying later can succeed."""
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    return is_read_only(error)
