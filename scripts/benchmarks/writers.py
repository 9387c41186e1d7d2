"""How many concurrent writers the embedded default (one SQLite file) holds.

    .venv/bin/python -m scripts.benchmarks.writers [--servers flask,gunicorn] [--levels 1,4,16,64]

For each server (``flask``: ``flask run``, a thread per request, what ``scripts/run`` serves;
``gunicorn``: ``gunicorn.conf.py``'s 2 workers and default threads) and each level N, N clients send
writes back to back, all released together:

- ``sign-in``: every request is a person never seen before (header sign-in inserts a user row);
- ``create``: every request creates a key (rate-limit slot, key row, audit event; plus LiteLLM's
  ``/key/generate`` and the key list the answer shows, each with ``--latency-ms`` added).

Printed per level: requests, writes per second, p50 / p95 / max latency, and every answer other
than the expected one (a 500 "database is locked" would show here). Every phase is bounded by a
request count and a deadline. Loopback only; the simulator and the portal are subprocesses.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

from scripts.benchmarks.load import percentile
from scripts.benchmarks.run import machine
from scripts.benchmarks.services import (
    ROOT,
    Portal,
    Sim,
    free_port,
    header_sign_in_env,
    migrate,
    stop_process,
    wait_http,
)

CSRF_MARK = 'name="csrf-token" content="'
EXPECTED = {"sign-in": 302, "create": 201}


def portal_env(sim: Sim, database_url: str) -> dict[str, str]:
    """Header sign-in from loopback, no practical rate limit: only the database is measured."""
    return {
        **header_sign_in_env(sim, database_url),
        "HTTP_CACHE_URL": "memory",
        "RATE_LIMIT_KEY_CREATE": "1000000/hour",
        "LOG_LEVEL": "WARNING",
    }


class FlaskRun:
    """``flask --app wsgi run``: Werkzeug's threaded server, as ``scripts/run`` starts it."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        port = free_port()
        log = open(workdir / "flask-run.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port)],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.base_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.base_url}/healthz", proc=self.proc, deadline_s=60)

    def stop(self) -> None:
        stop_process(self.proc)


def start_server(kind: str, workdir: Path, env: dict[str, str]):
    if kind == "flask":
        return FlaskRun(workdir, env)
    # Development settings: production's Secure cookie would not come back over plain HTTP.
    return Portal.start(workdir, env, name="writers")


def sign_in_request(base_url: str, run: str) -> Callable[[requests.Session, int, int], int]:
    def send(session: requests.Session, client: int, n: int) -> int:
        email = f"{run}-{n}@example.com"
        headers = {"X-Forwarded-Email": email}
        return session.get(base_url + "/", headers=headers, allow_redirects=False).status_code

    return send


def create_request(base_url: str, run: str):
    """One person per client, signed in and holding a CSRF token before the phase starts."""
    tokens: dict[int, str] = {}

    def prepare(session: requests.Session, client: int) -> None:
        session.headers["X-Forwarded-Email"] = f"{run}-writer{client}@example.com"
        page = session.get(base_url + "/keys", timeout=60).text
        tokens[client] = page.split(CSRF_MARK, 1)[1].split('"', 1)[0]

    def send(session: requests.Session, client: int, n: int) -> int:
        form = {
            "csrf_token": tokens[client],
            "idempotency_token": secrets.token_urlsafe(24),
            "name": f"k{n}",
        }
        headers = {"HX-Request": "true"}
        return session.post(base_url + "/keys", data=form, headers=headers).status_code

    return prepare, send


def phase(send, prepare, concurrency: int, max_requests: int, deadline_s: float, expect: int):
    """``concurrency`` clients released together; bounded by ``max_requests`` and the deadline."""
    counter = itertools.count()
    lock = threading.Lock()
    gate = threading.Barrier(concurrency + 1)
    latencies: list[float] = []
    statuses: Counter = Counter()
    stop_at = [float("inf")]

    def client(index: int) -> None:
        session = requests.Session()
        mine, seen = [], Counter()
        try:
            if prepare is not None:
                prepare(session, index)
            gate.wait(timeout=120)
            while time.perf_counter() < stop_at[0]:
                with lock:
                    n = next(counter)
                if n >= max_requests:
                    break
                started = time.perf_counter()
                try:
                    status = send(session, index, n)
                except requests.RequestException as exc:
                    seen[type(exc).__name__] += 1
                    continue
                seen[status] += 1
                if status == expect:
                    mine.append(time.perf_counter() - started)
        finally:
            session.close()
            with lock:
                latencies.extend(mine)
                statuses.update(seen)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    gate.wait(timeout=120)
    started = time.perf_counter()
    stop_at[0] = started + deadline_s
    for thread in threads:
        thread.join(timeout=deadline_s + 90)
    wall = time.perf_counter() - started
    ms = [v * 1000 for v in latencies]
    return {
        "clients": concurrency,
        "ok": len(latencies),
        "writes_per_s": round(len(latencies) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(ms, 50), 1) if ms else None,
        "p95_ms": round(percentile(ms, 95), 1) if ms else None,
        "max_ms": round(max(ms), 1) if ms else None,
        "other": {str(k): v for k, v in statuses.items() if k != expect},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="flask,gunicorn")
    parser.add_argument("--levels", default="1,4,16,64", help="concurrent writers per phase")
    parser.add_argument("--latency-ms", type=int, default=50, help="added LiteLLM latency")
    parser.add_argument("--requests-per-client", type=int, default=20)
    parser.add_argument("--deadline-s", type=float, default=15.0, help="per phase")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.levels.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="portal-writers-"))
    figures: dict = {"machine": machine(), "latency_ms": args.latency_ms, "runs": []}
    sim = Sim.start(workdir, args.latency_ms)
    try:
        for kind in args.servers.split(","):
            database_url = f"sqlite:///{workdir}/{kind}.sqlite"
            migrate(database_url, workdir)
            server = start_server(kind, workdir, portal_env(sim, database_url))
            try:
                for level in levels:
                    run = f"{kind}-{level}"
                    cap = args.requests_per_client * level
                    found = phase(
                        sign_in_request(server.base_url, run), None, level, cap,
                        args.deadline_s, EXPECTED["sign-in"],
                    )  # fmt: skip
                    report(figures, kind, "sign-in", found)
                    prepare, send = create_request(server.base_url, run)
                    found = phase(send, prepare, level, cap, args.deadline_s, EXPECTED["create"])
                    report(figures, kind, "create", found)
            finally:
                server.stop()
    finally:
        sim.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def report(figures: dict, server: str, workload: str, found: dict) -> None:
    figures["runs"].append({"server": server, "workload": workload, **found})
    other = ", ".join(f"{k}×{v}" for k, v in found["other"].items()) or "none"
    print(
        f"{server:8} {workload:7} {found['clients']:3} writers: {found['ok']:5} ok, "
        f"{found['writes_per_s']:7} /s, p50 {found['p50_ms']} ms, p95 {found['p95_ms']} ms, "
        f"max {found['max_ms']} ms, other answers: {other}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
