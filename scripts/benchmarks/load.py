"""A small, bounded, threaded HTTP load generator and its statistics.

Each client thread owns one ``requests.Session`` (keep-alive, like a browser tab) and sends
requests back to back until the phase has sent ``max_requests`` in total or ``deadline_s`` has
passed, whichever comes first. Every loop is bounded by both a count and a deadline, so a stuck
server cannot hang a benchmark. Latencies are wall-clock per request as the client saw them,
response body read included.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import requests

# (url, headers) for the n-th request of a phase (n counts from 0 across all threads).
RequestFactory = Callable[[int], tuple[str, Mapping[str, str]]]


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) by linear interpolation between closest ranks.

    The same definition as numpy's default (``method="linear"``): rank ``(n - 1) * p / 100``
    of the sorted values, interpolated. Raises ValueError on an empty sequence, because a
    percentile of nothing must not silently read as 0 ms.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LoadResult:
    """What one phase measured: latencies of successful requests, errors, throughput."""

    concurrency: int
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # exception class name → count
    wall_s: float = 0.0
    deadline_hit: bool = False

    @property
    def ok(self) -> int:
        """Requests answered with the expected status."""
        return len(self.latencies_s)

    @property
    def sent(self) -> int:
        """Requests attempted (answered with any status, or failed)."""
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def rps(self) -> float:
        """Successful requests per second over the phase's wall time."""
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> dict:
        """Milliseconds, rounded: the figures written to benchmarks.json."""
        ms = [v * 1000 for v in self.latencies_s]
        out: dict = {
            "concurrency": self.concurrency,
            "requests_ok": self.ok,
            "requests_sent": self.sent,
            "wall_s": round(self.wall_s, 3),
            "rps": round(self.rps, 1),
            "deadline_hit": self.deadline_hit,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }
        if self.errors:
            out["errors"] = dict(self.errors)
        if ms:
            out.update(
                p50_ms=round(percentile(ms, 50), 2),
                p95_ms=round(percentile(ms, 95), 2),
                p99_ms=round(percentile(ms, 99), 2),
                min_ms=round(min(ms), 2),
                max_ms=round(max(ms), 2),
                mean_ms=round(sum(ms) / len(ms), 2),
            )
        return out


def run_load(
    make_request: RequestFactory,
    *,
    concurrency: int,
    max_requests: int,
    deadline_s: float,
    expect_status: int = 200,
    timeout_s: float = 30.0,
) -> LoadResult:
    """Send up to ``max_requests`` GETs from ``concurrency`` threads, stopping at the deadline.

    A request counts as successful (its latency recorded) only when the status equals
    ``expect_status``; any other status or a connection error is counted, never timed, so a
    fast error page cannot flatter the percentiles.
    """
    if concurrency < 1 or max_requests < 1 or deadline_s <= 0:
        raise ValueError("concurrency, max_requests and deadline_s must be positive")
    result = LoadResult(concurrency=concurrency)
    counter = itertools.count()
    lock = threading.Lock()
    start_gate = threading.Barrier(concurrency + 1)
    stop_at: list[float] = [math.inf]

    def client() -> None:
        session = requests.Session()
        latencies: list[float] = []
        statuses: Counter = Counter()
        errors: Counter = Counter()
        try:
            start_gate.wait(timeout=30)
            while time.perf_counter() < stop_at[0]:
                with lock:
                    n = next(counter)
                if n >= max_requests:
                    break
                url, headers = make_request(n)
                t0 = time.perf_counter()
                try:
                    response = session.get(url, headers=headers, timeout=timeout_s)
                    _ = response.content  # read the body: the user waits for all of it
                except requests.RequestException as exc:
                    errors[type(exc).__name__] += 1
                    continue
                elapsed = time.perf_counter() - t0
                statuses[response.status_code] += 1
                if response.status_code == expect_status:
                    latencies.append(elapsed)
        finally:
            session.close()
            with lock:
                result.latencies_s.extend(latencies)
                result.statuses.update(statuses)
                result.errors.update(errors)

    threads = [
        threading.Thread(target=client, name=f"load-{i}", daemon=True) for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + deadline_s
    start_gate.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=deadline_s + timeout_s + 5)
    result.wall_s = time.perf_counter() - started
    result.deadline_hit = result.sent < max_requests
    return result
