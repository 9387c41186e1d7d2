"""The soak: the concurrency and fault scenario (scripts/benchmarks/storm.py) round after round
for a few minutes against one gunicorn, then how many concurrent writers the embedded default holds.

    scripts/bench soak [--minutes 3] [--users 16]      # BENCH_DB=postgres for PostgreSQL

Measures requests/s and p50/p95/p99 latency per route, answers by status, /healthz latency
(from a probe process of its own; overall and while LiteLLM hangs), the workers' RSS every few
seconds; then scripts/benchmarks/writers.py (1…64 writers signing in and creating keys on one
SQLite file, under ``flask run`` and gunicorn). Writes ``soak.json`` and the "Soak" section of
``benchmarks.md`` in ``--out-dir``. Loopback only; every phase is bounded in requests and time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from app.config import DEFAULT_GUNICORN_THREADS
from scripts.benchmarks.load import percentile
from scripts.benchmarks.run import log, machine
from scripts.benchmarks.services import MASTER_KEY, ROOT, Portal, Sim, migrate, proc_status_kib
from scripts.benchmarks.soak_report import update_benchmarks_md
from scripts.benchmarks.storm import Storm
from scripts.benchmarks.writers import main as run_writers

RSS_EVERY_S = 5.0


def portal_env(sim: Sim, database_url: str, workdir: Path, threads: int | None) -> dict[str, str]:
    """Development sign-in (users type their email), limits high enough never to refuse;
    gunicorn's own thread count unless ``threads`` is given."""
    env = {
        "PORTAL_ENV": "development",
        "AUTH_MODE": "dev",
        "SECRET_KEY": "soak-secret-key-not-for-production-0123456789",
        "DATABASE_URL": database_url,
        "LITELLM_BASE_URL": sim.base_url,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "HTTP_CACHE_URL": f"sqlite:///{workdir}/http_cache_{threads}.sqlite",
        "RATE_LIMIT_KEY_CREATE": "10000/hour",
        "RATE_LIMIT_USAGE_REFRESH": "10000/hour",
        "GUNICORN_WORKERS": "2",
        "LOG_LEVEL": "WARNING",
    }
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    return env


class RssSampler:
    """VmRSS of every gunicorn worker every few seconds, in a daemon thread."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = {pid: proc_status_kib(pid, "VmRSS") for pid in self.portal.worker_pids()}
            mib = [round(v / 1024, 1) for v in rss.values() if v]
            self.samples.append(
                {"t_s": round(time.monotonic() - self._started), "workers_mib": mib}
            )
            self._stop.wait(RSS_EVERY_S)

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples


def soak(base_url: str, sim: Sim, portal: Portal, args, workdir: Path) -> dict:
    storm = Storm(base_url, sim, args.users, workdir, prefix="soak")
    sampler = RssSampler(portal)
    try:
        # Rounds until the time is up (each takes about half a minute): the run stops itself.
        result = storm.run(rounds=1000, deadline_s=args.minutes * 60, burst=False)
    finally:
        rss = sampler.stop()
    hits = result.recorder.snapshot()
    probes = result.probes
    hang_probes = result.probes_during("hang")
    ms = [p.ms for p in probes]
    return {
        "wall_s": round(result.wall_s, 1),
        "requests": len(hits),
        "rps": round(len(hits) / result.wall_s, 1),
        "statuses": dict(sorted(Counter(str(h.status or h.error) for h in hits).items())),
        "routes": result.recorder.route_figures(result.wall_s),
        "failed_checks": len(result.failed_checks),
        "failed_check_kinds": dict(
            Counter(f"{p}: {w} → {s}" for p, _, w, s in result.failed_checks).most_common(10)
        ),
        "healthz": {
            "probes": len(probes),
            "failed": sum(1 for p in probes if p.status != 200),
            "p50_ms": round(percentile(ms, 50), 1),
            "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1),
            "max_during_hang_ms": round(max((p.ms for p in hang_probes), default=0), 1),
            "over_100_ms": sum(1 for v in ms if v > 100),
        },
        "rss": rss,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="soak length (bounded)")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--threads", type=int, help="gunicorn threads (default: its own)")
    parser.add_argument("--skip-writers", action="store_true", help="no concurrent-writers run")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    args.minutes = min(args.minutes, 30.0)

    workdir = Path(tempfile.mkdtemp(prefix="portal-soak-"))
    database_url = args.database_url or f"sqlite:///{workdir}/portal.sqlite"
    figures: dict = {"machine": machine(), "settings": {
        "minutes": args.minutes, "users": args.users, "workers": 2,
        "threads": args.threads or DEFAULT_GUNICORN_THREADS,
        "database": "PostgreSQL" if database_url.startswith("postgresql") else "SQLite file",
    }}  # fmt: skip
    log(f"work folder {workdir}")
    migrate(database_url, workdir)
    sim = Sim.start(workdir, latency_ms=0)
    try:
        portal = Portal.start(workdir, portal_env(sim, database_url, workdir, args.threads),
                              name="soak")  # fmt: skip
        try:
            log(f"soak: {args.users} users for {args.minutes} min")
            figures["soak"] = soak(portal.base_url, sim, portal, args, workdir)
        finally:
            portal.stop()
    finally:
        sim.stop()
    if not args.skip_writers:
        log("concurrent writers on the embedded default (bench/writers.py)")
        writers_json = workdir / "writers.json"
        run_writers(["--json", str(writers_json)])
        figures["writers"] = json.loads(writers_json.read_text())
    figures["machine"]["loadavg_end"] = machine()["loadavg_start"]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(figures, indent=2) + "\n")
    update_benchmarks_md(out / "benchmarks.md", figures)
    log(f"wrote {out}/soak.json and the Soak section of {out}/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
