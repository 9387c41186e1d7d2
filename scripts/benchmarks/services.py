"""The processes a benchmark run needs: the LiteLLM simulator and the portal under gunicorn.

Both run as real subprocesses on loopback, so the portal pays real HTTP to its upstream and the
load generator pays real HTTP to the portal, as in production. Every wait here is bounded.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import requests

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-bench-master-0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, *, deadline_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; raise when the deadline passes or ``proc`` died."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} while starting")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {deadline_s} s")


def stop_process(proc: subprocess.Popen, *, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; only the process we started."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@dataclass
class Sim:
    """The simulator subprocess and its control routes (``/_sim/*``, master key required)."""

    proc: subprocess.Popen
    base_url: str
    log: BinaryIO | None = None
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def start(cls, workdir: Path, latency_ms: int) -> Sim:
        """``python -m app.litellm_sim --seed none --latency-ms N`` on a free port."""
        port = free_port()
        log = open(workdir / "sim.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.litellm_sim", "--port", str(port), "--seed", "none",
             "--latency-ms", str(latency_ms), "--master-key", MASTER_KEY],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        sim = cls(proc, f"http://127.0.0.1:{port}", log)
        sim.session.headers["Authorization"] = f"Bearer {MASTER_KEY}"
        wait_http(f"{sim.base_url}/health/liveliness", proc=proc)
        return sim

    def _post(self, path: str, body: dict) -> dict:
        response = self.session.post(f"{self.base_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def add_key(self, alias: str, user_id: str) -> str:
        """A key owned by ``user_id``; returns its token (the sha256 LiteLLM filters on)."""
        return self._post("/_sim/keys", {"key_alias": alias, "user_id": user_id})["token"]

    def add_usage(self, rows: list[dict]) -> None:
        """Daily spend rows, in chunks so no request body is huge."""
        for i in range(0, len(rows), 500):
            self._post("/_sim/usage", {"rows": rows[i : i + 500]})

    def set_latency(self, ms: int) -> None:
        """Change the added latency of every LiteLLM route (control routes are never delayed)."""
        self._post("/_sim/faults", {"latency_ms": ms})

    def faults(self, spec: dict) -> None:
        """Apply ``POST /_sim/faults`` switches, e.g. ``{"hang": {"path": ..., "seconds": 8}}``."""
        self._post("/_sim/faults", spec)

    def clear_faults(self) -> None:
        """End every fault (held requests are answered at once); latency stays."""
        self._post("/_sim/faults", {"clear": True})

    def keys(self) -> dict[str, list[dict]]:
        """``{"live": [...], "deleted": [...]}`` of ``{token, key_alias, user_id}``."""
        response = self.session.get(f"{self.base_url}/_sim/keys", timeout=30)
        response.raise_for_status()
        return response.json()

    def empty(self, latency_ms: int) -> None:
        """Forget every key, usage row, call and fault; the added latency stays ``latency_ms``."""
        self._post("/_sim/reset", {})
        self.set_latency(latency_ms)

    def reset_calls(self) -> None:
        """Forget the call log before a phase."""
        self._post("/_sim/calls/reset", {})

    def calls_by_path(self) -> dict[str, int]:
        """The call log since the last reset, counted per path."""
        response = self.session.get(f"{self.base_url}/_sim/calls", timeout=30)
        response.raise_for_status()
        counts: dict[str, int] = {}
        for call in response.json()["calls"]:
            counts[call["path"]] = counts.get(call["path"], 0) + 1
        return counts

    def stop(self) -> None:
        self.session.close()
        stop_process(self.proc)
        if self.log is not None:
            self.log.close()


@dataclass
class Fixture:
    """Seeded users: emails, and per user the (portal key id, LiteLLM token) of each key."""

    emails: list[str]
    keys: list[list[tuple[int, str]]]
    data_start: dt.date
    data_end: dt.date

    @property
    def all_keys(self) -> list[tuple[str, int, str]]:
        """(email, key id, token) of every key, user by user."""
        pairs = zip(self.emails, self.keys, strict=True)
        return [(email, kid, tok) for email, ks in pairs for kid, tok in ks]


def seed(sim: Sim, database_url: str, users: int, keys_per_user: int, days: int) -> Fixture:
    """Users and keys in the portal (token ids NOT stored yet) and in LiteLLM, with ``days``
    of daily usage per key ending yesterday (UTC), two models alternating."""
    from app import create_app
    from app.config import Config
    from app.extensions import db
    from app.models import ApiKey, User

    config = Config()
    config.SQLALCHEMY_DATABASE_URI = database_url
    config.LITELLM_BASE_URL = sim.base_url
    config.LITELLM_MASTER_KEY = MASTER_KEY
    app = create_app(config)
    data_end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    data_start = data_end - dt.timedelta(days=days - 1)
    emails, keys, usage = [], [], []
    with app.app_context():
        for u in range(users):
            email = f"bench{u:03d}@example.com"
            user = User(email=email, litellm_user_id=email, display_name=f"bench{u:03d}")
            db.session.add(user)
            db.session.flush()
            mine = []
            for k in range(keys_per_user):
                alias = f"bench{u:03d}-example.com--key{k}"
                token = sim.add_key(alias, email)
                row = ApiKey(user_id=user.id, alias=alias, label=f"key{k}", key_prefix="sk-...")
                db.session.add(row)
                db.session.flush()
                mine.append((row.id, token))
                for d in range(days):
                    usage.append({
                        "token": token, "date": (data_start + dt.timedelta(days=d)).isoformat(),
                        "model": ("gpt-4o-mini", "claude-3-5-haiku")[d % 2],
                        "provider": ("openai", "anthropic")[d % 2],
                        "prompt_tokens": 1000 + 7 * d, "completion_tokens": 300 + d,
                        "spend": round(0.01 + 0.001 * d, 4), "successful_requests": 5,
                    })  # fmt: skip
            emails.append(email)
            keys.append(mine)
        db.session.commit()
    sim.add_usage(usage)
    return Fixture(emails, keys, data_start, data_end)


def set_tokens(database_url: str, fixture: Fixture, *, stored: bool) -> int:
    """Store every token id (the current design) or clear them all (the pre-column design);
    returns how many rows have a token id afterwards."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            for _email, key_id, token in fixture.all_keys:
                conn.execute(
                    sa.text("UPDATE api_keys SET litellm_token_id = :t WHERE id = :i"),
                    {"t": token if stored else None, "i": key_id},
                )
        return count_tokens(database_url)
    finally:
        engine.dispose()


def header_sign_in_env(sim: Sim, database_url: str) -> dict[str, str]:
    """What every benchmarked portal shares: its database, the simulator, and sign-in by the
    ``X-Forwarded-Email`` header from loopback (the load generator is the trusted proxy)."""
    return {
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
        "DATABASE_URL": database_url,
        "LITELLM_BASE_URL": sim.base_url,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "AUTH_MODE": "header",
        "TRUSTED_PROXY_IPS": "127.0.0.1",
    }


class TokenEraser:
    """Clears one key's stored token id, so the portal's next view of it must look the token
    up by alias again: how the benchmark emulates the design before the token column."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.engine = engine
        self._clear = sa.text("UPDATE api_keys SET litellm_token_id = NULL WHERE id = :i")

    def __call__(self, key_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._clear, {"i": key_id})


def count_tokens(database_url: str) -> int:
    """Rows of api_keys with a stored token id (to prove the pre-column run wrote none)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                sa.text("SELECT count(*) FROM api_keys WHERE litellm_token_id IS NOT NULL")
            )
    finally:
        engine.dispose()


@dataclass
class Portal:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` with production settings and header sign-in."""

    proc: subprocess.Popen
    base_url: str

    @classmethod
    def start(
        cls, workdir: Path, env_overrides: dict[str, str], *, name: str, root: Path = ROOT
    ) -> Portal:
        """gunicorn serving the checkout at ``root`` (another revision: a ``git archive``)."""
        port = free_port()
        env = {**os.environ, **env_overrides, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        log = open(workdir / f"gunicorn-{name}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        portal = cls(proc, f"http://127.0.0.1:{port}")
        wait_http(f"{portal.base_url}/healthz", proc=proc, deadline_s=60)
        return portal

    def worker_pids(self) -> list[int]:
        """Children of the gunicorn master (its workers), from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may contain spaces, so split after the last ")".
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def stop(self) -> None:
        stop_process(self.proc, grace_s=25)


def proc_status_kib(pid: int, field_name: str) -> int | None:
    """A ``kB`` field (VmHWM, VmRSS) of /proc/<pid>/status, or None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat), 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After "pid (comm)": field 3 (state) is index 0, so utime (14) and stime (15) are 11, 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrate(database_url: str, workdir: Path) -> None:
    """``flask db upgrade`` on the benchmark database, as a deployment would run it."""
    env = {**os.environ, "FLASK_APP": "wsgi", "DATABASE_URL": database_url,
           "PORTAL_ENV": "development", "LITELLM_MASTER_KEY": MASTER_KEY}  # fmt: skip
    with open(workdir / "migrate.log", "wb") as log:
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120,
        )  # fmt: skip
