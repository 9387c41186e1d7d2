"""Where the usage day cache keeps its entries: beside the LiteLLM answer cache, in the same place.

The configured requests-cache backend decides: an in-process dict for ``memory`` (tests), a
table of its own in the same SQLite file, or plain keys in the same Redis database (shared by
every worker and instance, with a Redis expiry so abandoned entries go by themselves). Values are
bytes; keys are strings. Reads and writes take many keys at once, because one view reads every
day of its range: one SQL statement or one ``MGET``, not one round trip per day.

A broken store never hides LiteLLM's answer: callers treat a failed read as "nothing held" and a
failed write as "not kept" (logged once per call).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping

from requests_cache import BaseCache, RedisCache, SQLiteCache

from .sqlite_cache import connect_wal

__all__ = ["DayStore", "MemoryDayStore", "RedisDayStore", "SQLiteDayStore", "day_store_for"]


class DayStore:
    """Bytes by key, each with a time to live in seconds (after which it may be removed)."""

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The values held for ``keys`` (missing keys are left out)."""
        raise NotImplementedError

    def put_many(self, items: Mapping[str, bytes], ttl: int) -> None:
        """Store every item, each kept at least ``ttl`` seconds."""
        raise NotImplementedError


class MemoryDayStore(DayStore):
    """Per process, for tests and ``HTTP_CACHE_URL=memory``."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        now = time.time()
        with self._lock:
            found = {k: self._data.get(k) for k in keys}
        return {k: v[1] for k, v in found.items() if v is not None and v[0] > now}

    def put_many(self, items: Mapping[str, bytes], ttl: int) -> None:
        until = time.time() + ttl
        with self._lock:
            self._data.update((k, (until, v)) for k, v in items.items())


class SQLiteDayStore(DayStore):
    """A ``usage_days`` table in the answer cache's SQLite file (WAL, one connection per
    thread, a busy timeout: several gunicorn workers share the file)."""

    _CHUNK = 500  # keys per statement, well below SQLite's bound on bound parameters

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        with self._connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS usage_days "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)"
            )

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_wal(self.path, check_same_thread=False)
            self._local.conn = conn
        return conn

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        conn, now, found = self._connection(), time.time(), {}
        for i in range(0, len(keys), self._CHUNK):
            chunk = keys[i : i + self._CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, value FROM usage_days WHERE key IN ({marks}) AND expires > ?",
                (*chunk, now),
            )
            found.update((k, bytes(v)) for k, v in rows)
        return found

    def put_many(self, items: Mapping[str, bytes], ttl: int) -> None:
        until = time.time() + ttl
        with self._connection() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO usage_days (key, value, expires) VALUES (?, ?, ?)",
                [(k, v, until) for k, v in items.items()],
            )
            # Expired rows would otherwise stay for good: drop them while writing anyway.
            conn.execute("DELETE FROM usage_days WHERE expires <= ?", (time.time(),))


class RedisDayStore(DayStore):
    """Plain Redis keys with an expiry, on the answer cache's connection."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        values = self.connection.mget(keys)
        return {k: v for k, v in zip(keys, values, strict=True) if v is not None}

    def put_many(self, items: Mapping[str, bytes], ttl: int) -> None:
        pipe = self.connection.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, ex=max(1, int(ttl)))
        pipe.execute()


def day_store_for(backend: BaseCache | str) -> DayStore:
    """The day store that lives where ``backend`` (the answer cache) keeps its answers."""
    if isinstance(backend, SQLiteCache):
        return SQLiteDayStore(backend.responses.db_path)
    if isinstance(backend, RedisCache):
        return RedisDayStore(backend.responses.connection)
    return MemoryDayStore()
