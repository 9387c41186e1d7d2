"""requests-cache's SQLite backend, with its one connection used by one thread at a time.

requests-cache opens a single ``sqlite3`` connection per table and shares it between threads
(``check_same_thread=False``); it takes its lock for writes only. Under concurrent users a read
stepping a statement while another thread executes on the same connection fails with
``sqlite3.DatabaseError: another row available`` or ``no more rows available`` (a gunicorn
worker serving 16 users at once hit this), and the page answered 500. Here every use of the
connection holds the backend's lock. Reads of a local file take microseconds, so serialising
them within a process costs little; other processes still read in parallel (WAL).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from requests_cache import BaseCache, SQLiteCache
from requests_cache.backends.sqlite import SQLiteDict

__all__ = ["SerializedSQLiteCache", "SerializedSQLiteDict", "connect_wal"]


def connect_wal(path: str, *, timeout: float = 5.0, **kwargs) -> sqlite3.Connection:
    """A connection to ``path``, the file switched to WAL mode.

    Switching a new file needs its exclusive lock, and when two processes switch it at once
    (gunicorn's workers starting together) SQLite answers one of them "database is locked" at
    once instead of waiting (it would deadlock). The switch is retried for up to ``timeout``
    seconds; once the file is in WAL mode (kept in the file) it is a no-op.
    """
    conn = sqlite3.connect(path, timeout=timeout, **kwargs)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.05)


class SerializedSQLiteDict(SQLiteDict):
    """A ``SQLiteDict`` whose connection is only ever used under its (reentrant) lock."""

    @contextmanager
    def connection(self, commit: bool = False) -> Iterator:
        with self._lock, super().connection(commit) as con:
            yield con

    def __iter__(self) -> Iterator[str]:
        # Read every key before yielding any: a generator suspended inside the lock would hold
        # it for as long as its caller keeps it.
        with self.connection() as con:
            keys = [row[0] for row in con.execute(f"SELECT key FROM {self.table_name}")]
        return iter(keys)


class SerializedSQLiteCache(SQLiteCache):
    """``SQLiteCache`` built on :class:`SerializedSQLiteDict` (same file, tables, options)."""

    def __init__(self, db_path: str, **kwargs) -> None:
        if kwargs.get("wal"):
            connect_wal(str(db_path)).close()  # before requests-cache's own switch
        BaseCache.__init__(self, cache_name=str(db_path), **kwargs)
        self.responses = SerializedSQLiteDict(db_path, table_name="responses", **kwargs)
        self.redirects = SerializedSQLiteDict(
            db_path, table_name="redirects", lock=self.responses._lock, serializer=None, **kwargs
        )

    def delete(self, *keys: str, expired: bool = False, vacuum: bool = False, **kwargs):
        """As ``SQLiteCache.delete``, but no VACUUM unless asked: it rewrites the whole file,
        which every worker shares, and invalidation deletes on every key creation."""
        return super().delete(*keys, expired=expired, vacuum=vacuum, **kwargs)
