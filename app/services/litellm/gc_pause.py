"""No garbage collection while a big LiteLLM answer is decoded and read.

A page of usage rows (about 4 MB of JSON) decodes into some 300,000 dicts and lists that live
only until the page is read into sums. Every 700 new objects wake the collector, which then
traverses them, and every few dozen times the whole heap, although none of them can be garbage
yet (decoded JSON holds no reference cycles). So collections are paused while any thread
decodes and reads a big answer, and resume when the last one is done: the decoded answer, freed
by reference counting once read, never costs a traversal. What the reading keeps (the sums) is
collected as usual afterwards. Small answers (key lists, a user's usage) pause nothing, so
ordinary traffic never keeps the collector off; only a view reading big answers does, while it
reads them.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BIG_ANSWER_BYTES", "collections_paused"]

BIG_ANSWER_BYTES = 256 * 1024
_lock = threading.Lock()
_readers = 0
_resume = False  # whether the collector was on when the first reader paused it


@contextmanager
def collections_paused(size: int = BIG_ANSWER_BYTES) -> Iterator[None]:
    """Pause automatic garbage collection until every thread inside this block has left it,
    when what is read inside (``size`` bytes) is at least ``BIG_ANSWER_BYTES``."""
    global _readers, _resume
    if size < BIG_ANSWER_BYTES:
        yield
        return
    with _lock:
        if _readers == 0:
            _resume = gc.isenabled()
            gc.disable()
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0 and _resume:
                gc.enable()
