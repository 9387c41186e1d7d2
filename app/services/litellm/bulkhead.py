"""A bulkhead in front of LiteLLM (at most N upstream calls in flight per process) and the retry
policy that keeps a view's wait on a hanging LiteLLM to one read timeout.

A hanging LiteLLM would otherwise hold every gunicorn thread until its read timeout, so pages
that never need LiteLLM (the key list from the database, ``/healthz``) would queue behind it.
The slot is taken in the HTTP adapter, i.e. only when a request really goes upstream: answers
from the cache never wait for one. A call that finds no free slot within a short wait fails at
once with :class:`BulkheadFull`, which :mod:`.http` turns into ``LiteLLMUnavailable`` (so the
page shows stale data or the error panel instead of waiting).

Key changes (creating, revoking, rotating: POSTs) have slots of their own, a quarter as many:
views filling every read slot must never turn a person's "Create key" into "LiteLLM is busy".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

__all__ = ["Bulkhead", "BulkheadAdapter", "BulkheadFull", "SingleWaitRetry", "write_lane"]


READS = "LiteLLM calls (LITELLM_MAX_CONCURRENCY)"


class BulkheadFull(requests.exceptions.RequestException):
    """Every upstream slot stayed busy for the whole wait."""


class Bulkhead:
    """``max_concurrent`` slots; :meth:`slot` waits at most ``wait`` seconds for one."""

    def __init__(self, max_concurrent: int, wait: float, what: str = READS) -> None:
        if int(max_concurrent) < 1:
            raise ValueError("max_concurrent must be at least 1")
        if float(wait) < 0:
            raise ValueError("wait must be >= 0")
        self.max_concurrent = int(max_concurrent)
        self.wait = float(wait)
        self.what = what
        self.rejected = 0  # calls refused because every slot stayed busy (tests, benchmarks)
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._lock = threading.Lock()
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Slots taken right now."""
        return self._in_use

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the block, or raise :class:`BulkheadFull`."""
        if not self._slots.acquire(timeout=self.wait):
            with self._lock:
                self.rejected += 1
            raise BulkheadFull(
                f"all {self.max_concurrent} slots for {self.what} are in use "
                f"and none came free within {self.wait:g} s"
            )
        with self._lock:
            self._in_use += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_use -= 1
            self._slots.release()


WRITE_WAIT_S = 5.0
BODY_CHUNK = 1 << 20


def write_lane(reads: Bulkhead) -> Bulkhead:
    """The key changes' own bulkhead beside ``reads``: a quarter of its slots, at least one.

    A key change waits longer for a slot than a view (at least ``WRITE_WAIT_S``): the person
    who pressed "Create key" would rather wait a moment than be asked to try again, and key
    changes are few (rate-limited), so their waiting never holds many threads.
    """
    return Bulkhead(
        max(1, reads.max_concurrent // 4),
        max(reads.wait, WRITE_WAIT_S),
        "LiteLLM key changes (a quarter of LITELLM_MAX_CONCURRENCY)",
    )


class BulkheadAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose every send (retries included) holds a slot: of ``writes`` for
    anything but GET and HEAD, of ``reads`` otherwise."""

    def __init__(self, reads: Bulkhead, writes: Bulkhead, **kwargs: Any) -> None:
        self.reads = reads
        self.writes = writes
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any):
        lane = self.reads if request.method in ("GET", "HEAD") else self.writes
        with lane.slot():
            response = super().send(request, stream=stream, **kwargs)
            if not stream:
                # Read the body inside the slot: a LiteLLM that sends headers and then stalls
                # is as busy as one that sends nothing (requests would read it right after).
                # In chunks of 1 MiB where requests reads 10 KiB: a usage page is 4 MB.
                response._content = b"".join(response.iter_content(BODY_CHUNK)) or b""
            return response


class SingleWaitRetry(Retry):
    """GET retries that never re-send after a read timeout: a LiteLLM that hangs must cost a view
    one read timeout, not two. A connection dropped while reading (a stale keep-alive
    connection) is still retried, like refused connections and 429/5xx."""

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)
