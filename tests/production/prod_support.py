"""Helpers for the production tests: Redis databases, clean production environments, and
portal instances started through ``scripts/serve``."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "scripts" / "serve"
MASTER_KEY = "sk-sim-master-0123456789"
# Databases 1..15 are handed out round-robin (the counter lives in database 0), so parallel
# tests and test runs never share one.
_REDIS_DB_COUNTER = "portal-tests:next-db"


def required_env(name: str) -> str:
    """The variable's value; a clear failure (never a skip) when scripts/test did not set it."""
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(
            f"{name} is not set: run the suite through scripts/test, which starts PostgreSQL "
            "and Redis and exports TEST_PG_URL and TEST_REDIS_URL"
        )
    return value


def allocate_redis_url(server_url: str) -> str:
    """``redis://host:port/<n>`` with a database number no concurrent test is using."""
    control = redis.Redis.from_url(server_url)
    try:
        number = 1 + (control.incr(_REDIS_DB_COUNTER) - 1) % 15
    finally:
        control.close()
    scheme, rest = server_url.split("://", 1)
    hostport = rest.split("/", 1)[0]
    return f"{scheme}://{hostport}/{number}"


def redis_dump(url: str) -> list[bytes]:
    """Every key and every stored value (strings, hashes, lists, sets) of one Redis database."""
    conn = redis.Redis.from_url(url)
    chunks: list[bytes] = []
    try:
        for key in conn.scan_iter(count=500):
            chunks.append(key)
            kind = conn.type(key)
            if kind == b"string":
                chunks.append(conn.get(key) or b"")
            elif kind == b"hash":
                for k, v in conn.hgetall(key).items():
                    chunks.extend((k, v))
            elif kind == b"list":
                chunks.extend(conn.lrange(key, 0, -1))
            elif kind == b"set":
                chunks.extend(conn.smembers(key))
            elif kind == b"zset":
                chunks.extend(conn.zrange(key, 0, -1))
    finally:
        conn.close()
    return chunks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(**overrides: str) -> dict[str, str]:
    """A clean environment for a production process: nothing inherited from the test run
    (TEST_DATABASE_URL, FLASK_*, …) except what a process needs to start."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(
        PORTAL_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        LITELLM_MASTER_KEY=MASTER_KEY,
        AUTH_MODE="header",
        AUTH_HEADER="X-Forwarded-Email",
        TRUSTED_PROXY_IPS="127.0.0.1",
        PYTHONUNBUFFERED="1",
        GUNICORN_LOG_LEVEL="warning",
    )
    env.update(overrides)
    return env


def flask_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``flask --app wsgi <args>`` as its own process, like an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Instance:
    """One portal instance started with ``scripts/serve`` (its own process group)."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll /healthz until it answers; fail with the instance's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                pytest.fail(f"{self.name} exited with {code}:\n{self.log_text()}")
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"{self.name} not healthy after {timeout}s:\n{self.log_text()}")

    def stop(self) -> None:
        """SIGTERM the process group (gunicorn master and workers), SIGKILL if it lingers."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_instance(
    name: str, env: dict[str, str], log_dir: Path, *, via_port: bool = False
) -> Instance:
    """``scripts/serve`` on a free loopback port (GUNICORN_BIND, or PORT when ``via_port``);
    its output (JSON log lines) goes to a file, so a full pipe never blocks it."""
    port = free_port()
    bind = {"PORT": str(port)} if via_port else {"GUNICORN_BIND": f"127.0.0.1:{port}"}
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", str(SERVE)],
            cwd=ROOT,
            env={**env, **bind},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Instance(name, port, process, log_path)
