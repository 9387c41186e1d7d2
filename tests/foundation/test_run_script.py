"""``scripts/run``: one command from a checkout to a working portal with the demo simulator."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app.services.keys import alias_prefixes

# What the portal names alice's key "kept-across-restarts" in LiteLLM.
KEPT = f"{alias_prefixes('alice@example.com')[0]}kept-across-restarts"

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunScript:
    """One ``scripts/run`` started in its own process group, its output collected in a file."""

    def __init__(self, tmp_path: Path, *args: str):
        self.port, self.sim_port = _free_port(), _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / f"run-{self.port}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LITELLM_", "TEST_", "PORTAL_", "AUTH_"))
        }
        env.update(
            PORT=str(self.port),
            SIM_PORT=str(self.sim_port),
            SIM_STATE_FILE=str(tmp_path / "litellm-sim.json"),
            DATABASE_URL=f"sqlite:///{tmp_path}/portal.sqlite",
            HTTP_CACHE_URL=f"sqlite:///{tmp_path}/cache.sqlite",
        )
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                ["bash", str(ROOT / "scripts" / "run"), *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_serving(self) -> None:
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.text()
            try:
                if requests.get(f"{self.base}/auth/sign-in", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "scripts/run did not serve within 120 s"
            time.sleep(0.5)

    def sign_in(self, email: str = "alice@example.com") -> tuple[requests.Session, str]:
        session = requests.Session()
        html = session.get(f"{self.base}/auth/sign-in", timeout=5).text
        token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        signed_in = session.post(
            f"{self.base}/auth/sign-in", data={"email": email, "csrf_token": token}, timeout=10
        )
        assert signed_in.status_code == 200 and "Your keys" in signed_in.text
        return session, token

    def sim_aliases(self) -> set[str]:
        answer = requests.get(
            f"http://127.0.0.1:{self.sim_port}/key/list",
            params={"return_full_object": "true", "size": 100},
            headers={"Authorization": "Bearer sk-sim-master-0123456789"},
            timeout=10,
        )
        return {k["key_alias"] for k in answer.json()["keys"]}

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@contextmanager
def running(tmp_path: Path, *args: str):
    run = RunScript(tmp_path, *args)
    try:
        run.wait_serving()
        yield run
    finally:
        run.stop()


def _create_key(run: RunScript, session: requests.Session, label: str) -> None:
    form = session.get(f"{run.base}/keys", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', form).group(1)  # after sign-in
    idempotency = re.search(r'name="idempotency_token" value="([^"]+)"', form).group(1)
    created = session.post(
        f"{run.base}/keys",
        data={"name": label, "csrf_token": token, "idempotency_token": idempotency},
        timeout=30,
    )
    assert created.status_code in (200, 201), created.text[:500]


@pytest.mark.slow
def test_scripts_run_serves_sign_in_keys_and_usage_with_demo_data(tmp_path):
    with running(tmp_path) as run:
        session, _token = run.sign_in()
        keys = session.get(f"{run.base}/keys", timeout=10)
        assert keys.status_code == 200
        assert "laptop" in keys.text and "notebook" in keys.text  # the demo keys
        usage = session.get(f"{run.base}/usage?preset=30d", timeout=30)
        assert usage.status_code == 200
        assert "<svg" in usage.text and "gpt-4o" in usage.text  # demo usage reached the page


def _request_lines(output: str, path: str) -> list[str]:
    """Every output line that reports a request for exactly ``path``."""
    return [line for line in output.splitlines() if f"{path} " in line or f'"{path}"' in line]


@pytest.mark.slow
def test_scripts_run_logs_one_line_per_request(tmp_path):
    with running(tmp_path) as run:
        for _ in range(3):
            assert requests.get(f"{run.base}/auth/sign-in?probe=1", timeout=5).status_code == 200
        time.sleep(0.5)
        lines = _request_lines(run.text(), "/auth/sign-in")
    # The readiness polls also asked for /auth/sign-in: count only the lines that are JSON.
    json_lines = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(json_lines) >= 3
    assert all(entry["path"] == "/auth/sign-in" for entry in json_lines)
    assert len(lines) == len(json_lines), lines  # no second (development server) line


@pytest.mark.slow
def test_scripts_run_keeps_the_simulator_state_and_reset_starts_afresh(tmp_path):
    with running(tmp_path) as run:
        session, _token = run.sign_in()
        _create_key(run, session, "kept-across-restarts")
        assert KEPT in run.sim_aliases()

    with running(tmp_path) as run:
        # The simulator came back with the key the portal made, not just the demo seed.
        assert KEPT in run.sim_aliases()
        assert "alice-example.com--laptop" in run.sim_aliases()
        session, _token = run.sign_in()
        keys = session.get(f"{run.base}/keys", timeout=10).text
        assert "kept-across-restarts" in keys

    with running(tmp_path, "--reset") as run:
        assert KEPT not in run.sim_aliases()
        assert "alice-example.com--laptop" in run.sim_aliases()
        session, _token = run.sign_in()
        keys = session.get(f"{run.base}/keys", timeout=10).text
        assert "kept-across-restarts" not in keys and "laptop" in keys
