"""``scripts/run``: one command from a checkout to a working portal with the demo simulator."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_scripts_run_serves_sign_in_keys_and_usage_with_demo_data(tmp_path):
    port, sim_port = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LITELLM_", "TEST_", "PORTAL_", "AUTH_"))
    }
    env.update(
        PORT=str(port),
        SIM_PORT=str(sim_port),
        DATABASE_URL=f"sqlite:///{tmp_path}/portal.sqlite",
        HTTP_CACHE_URL=f"sqlite:///{tmp_path}/cache.sqlite",
    )
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode(errors="replace")
            try:
                page = requests.get(f"{base}/auth/sign-in", timeout=2)
                if page.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "scripts/run did not serve within 120 s"
            time.sleep(0.5)

        session = requests.Session()
        html = session.get(f"{base}/auth/sign-in", timeout=5).text
        token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        signed_in = session.post(
            f"{base}/auth/sign-in",
            data={"email": "alice@example.com", "csrf_token": token},
            timeout=10,
        )
        assert signed_in.status_code == 200 and "Your keys" in signed_in.text
        keys = session.get(f"{base}/keys", timeout=10)
        assert keys.status_code == 200
        assert "laptop" in keys.text and "notebook" in keys.text  # the demo keys
        usage = session.get(f"{base}/usage?preset=30d", timeout=30)
        assert usage.status_code == 200
        assert "<svg" in usage.text and "gpt-4o" in usage.text  # demo usage reached the page
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        process.stdout.close()
