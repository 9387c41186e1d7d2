"""Moving the usage day cache through time, for tests of what happens when its days expire.

Rewrites every held day of a client's day cache as if it had been fetched ``seconds`` earlier
(``fetched_at`` and freshness both move), on each store kind: memory, SQLite and Redis.
"""

from __future__ import annotations

import json
import time

from app.services.litellm.day_store import MemoryDayStore, RedisDayStore, SQLiteDayStore


def _aged(blob: bytes, seconds: float, expire: bool) -> bytes:
    entry = json.loads(blob)
    if expire:
        entry["u"] = time.time() - 1
    else:
        entry["f"] -= seconds
        entry["u"] -= seconds
    return json.dumps(entry, separators=(",", ":")).encode()


def age_usage_days(client, seconds: float, *, expire: bool = False) -> int:
    """Age every held usage day of ``client`` (a LiteLLMClient) by ``seconds`` (or, with
    ``expire``, end its freshness now and keep its fetch time); how many days."""
    cache = client.usage_days.cache
    store = cache.store
    cache.memo.clear()
    if isinstance(store, MemoryDayStore):
        with store._lock:
            days = [(k, v) for k, v in store._data.items() if ":usage-day:" in k]
            for key, (until, blob) in days:
                store._data[key] = (until, _aged(blob, seconds, expire))
            return len(days)
    if isinstance(store, SQLiteDayStore):
        with store._connection() as conn:
            rows = conn.execute(
                "SELECT key, value FROM usage_days WHERE key LIKE '%:usage-day:%'"
            ).fetchall()
            conn.executemany(
                "UPDATE usage_days SET value = ? WHERE key = ?",
                [(_aged(bytes(v), seconds, expire), k) for k, v in rows],
            )
            return len(rows)
    if isinstance(store, RedisDayStore):
        keys = list(store.connection.scan_iter(f"{cache.namespace}:usage-day:*"))
        for key in keys:
            blob = _aged(store.connection.get(key), seconds, expire)
            store.connection.set(key, blob, keepttl=True)
        return len(keys)
    raise TypeError(f"unknown day store {store!r}")


def expire_usage_days(client) -> int:
    """Every held day past its freshness, as after an outage longer than its lifetime."""
    return age_usage_days(client, 0, expire=True)
