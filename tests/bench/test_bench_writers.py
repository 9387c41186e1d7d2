"""The concurrent-writers benchmark's phase runner: bounded, and it never times a failure."""

from __future__ import annotations

import threading

import pytest
import requests
from flask import Flask

from app.litellm_sim import run_in_thread
from scripts.benchmarks.writers import phase


@pytest.fixture
def target():
    """Answers 201, except every third request: 500 (as "database is locked" did)."""
    web = Flask("bench-writers")
    prepared: list[int] = []
    lock = threading.Lock()

    @web.post("/write/<int:n>")
    def write(n: int):
        return ("locked", 500) if n % 3 == 2 else ("", 201)

    server = run_in_thread(web)
    server.prepared, server.lock = prepared, lock
    yield server
    server.shutdown()


def test_phase_sends_the_bound_and_counts_other_answers_untimed(target):
    def prepare(session: requests.Session, client: int) -> None:
        with target.lock:
            target.prepared.append(client)

    def send(session: requests.Session, client: int, n: int) -> int:
        return session.post(f"{target.base_url}/write/{n}", timeout=10).status_code

    found = phase(send, prepare, concurrency=4, max_requests=30, deadline_s=20, expect=201)
    assert sorted(target.prepared) == [0, 1, 2, 3]  # every client prepared before the start
    assert found["clients"] == 4
    assert found["ok"] == 20 and found["other"] == {"500": 10}
    assert found["p50_ms"] is not None and found["p95_ms"] >= found["p50_ms"]
