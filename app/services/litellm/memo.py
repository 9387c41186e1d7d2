"""A small in-process memo of parsed cached LiteLLM responses.

A warm usage view reads the same cached response again and again; decoding its JSON and building
the typed dataclasses each time cost about half of the view's CPU. :class:`ParsedMemo` keeps the
parsed (immutable) result of a cached response, keyed by everything that identifies those exact
bytes: the parser, the requests-cache key of the request (which includes every query parameter:
``api_key``, ``user_id``, dates), the cache entry's ``created_at`` and a digest of the body. A
refreshed or re-fetched response has a new ``created_at`` (and usually a new body), so it is
parsed afresh; two keys' or two users' answers can never share an entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["MISSING", "ParsedMemo"]

MISSING: Any = object()  # what :meth:`ParsedMemo.get` returns for an unknown key


class ParsedMemo:
    """Bounded, thread-safe LRU map from a memo key to a parsed response.

    Values must be immutable (frozen dataclasses, tuples, read-only mappings): every caller that
    hits an entry gets the same object. ``hits``/``misses`` are counters for tests and benchmarks.
    ``maxsize`` 0 disables the memo.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = int(maxsize)
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value stored under ``key`` (now the most recently used) or :data:`MISSING`."""
        with self._lock:
            value = self._data.get(key, MISSING)
            if value is MISSING:
                self.misses += 1
            else:
                self.hits += 1
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``; the least recently used entries go once ``maxsize`` is exceeded."""
        if self.maxsize == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (counters are kept)."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data
