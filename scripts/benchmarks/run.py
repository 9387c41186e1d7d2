"""The whole benchmark in one run; ``scripts/bench`` is its entry point.

    .venv/bin/python -m scripts.benchmarks.run [--latency-ms 50] [--out-dir docs]

1. Usage views under gunicorn against the simulator (added upstream latency), for two designs:
   ``lookup`` (before the token column: ``LITELLM_KEY_LIST_TTL=0`` and the viewed key's token
   id cleared before each view — every view pays ``/key/list``) and ``stored`` (today);
   cold and warm, at 1, 8 and 32 concurrent clients.
2. The portal's own overhead: warm and cold usage fragments (``HX-Request``), one client.
3. ``flask backfill-tokens`` at 1,000/10,000 keys over 50/500 users vs one lookup per key.
4. Peak RSS (VmHWM) of each gunicorn worker after ≥ 1,000 usage views.

Writes ``benchmarks.json`` and ``benchmarks.md`` to ``--out-dir``. Every phase is bounded by
a request count and a deadline; the run as a whole takes about 3–5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from scripts.benchmarks.report import render
from scripts.benchmarks.scale_report import update_benchmarks_md as update_scale_section
from scripts.benchmarks.services import (
    ROOT,
    Portal,
    Sim,
    TokenEraser,
    count_tokens,
    header_sign_in_env,
    migrate,
    proc_status_kib,
    seed,
    set_tokens,
)
from scripts.benchmarks.soak_report import update_benchmarks_md
from scripts.benchmarks.usage import PhaseLimits, UsageBench, direct_upstream

COLD = PhaseLimits({1: 120, 8: 400, 32: 800}, deadline_s=20)
WARM = PhaseLimits({1: 200, 8: 1000, 32: 2000}, deadline_s=20)
FRAGMENT_WARM = PhaseLimits({1: 300}, deadline_s=20)
FRAGMENT_COLD = PhaseLimits({1: 120}, deadline_s=20)
BACKFILL_SIZES = ((1000, 50), (1000, 500), (10000, 50), (10000, 500))
RSS_VIEWS = 1000


def machine() -> dict:
    """nproc, CPU model, RAM, Python and the date: what the figures depend on."""
    cpu = "unknown"
    ram_kib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(ram_kib / 2**20, 1) if ram_kib else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_start": _loadavg(),
    }


def _loadavg() -> str:
    """1/5/15-minute load: other work on the machine shows up here, and in every latency."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def portal_env(args, sim: Sim, database_url: str, workdir: Path, design: str) -> dict[str, str]:
    """Production settings with header sign-in; the lookup design turns the key-list cache off."""
    env = {
        **header_sign_in_env(sim, database_url),
        "PORTAL_ENV": "production",
        "HTTP_CACHE_URL": args.http_cache_url or f"sqlite:///{workdir}/http_cache_{design}.sqlite",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "LOG_LEVEL": "INFO",
    }
    if design == "lookup":
        env.update(LITELLM_KEY_LIST_TTL="0")
    return env


def run_design(args, sim, fixture, database_url, workdir, design: str) -> dict:
    """Sections 1 (both designs), 2 and 4 (stored design only) against one gunicorn."""
    tokens = set_tokens(database_url, fixture, stored=design == "stored")
    env = portal_env(args, sim, database_url, workdir, design)
    portal = Portal.start(workdir, env, name=design)
    out: dict = {"tokens_stored_before": tokens}
    eraser = TokenEraser(sa.create_engine(database_url)) if design == "lookup" else None
    try:
        bench = UsageBench(portal, sim, fixture, forget_token=eraser)
        out["priming"] = bench.prime()
        log(f"{design}: cold views")
        out["cold"] = bench.sweep(cold=True, limits=COLD)
        log(f"{design}: warm views")
        out["warm"] = bench.sweep(cold=False, limits=WARM)
        if design == "stored":
            log("stored: fragments, one client")
            out["fragment_warm"] = bench.sweep(cold=False, limits=FRAGMENT_WARM, hx=True)[0]
            out["fragment_cold"] = bench.sweep(cold=True, limits=FRAGMENT_COLD, hx=True)[0]
            if bench.views_sent < RSS_VIEWS:
                bench.phase(bench.warm_factory(), 8, RSS_VIEWS - bench.views_sent, 60)
            workers = portal.worker_pids()
            out["rss"] = {
                "views_served": bench.views_sent,
                "workers": [
                    {
                        "pid": pid,
                        "vmhwm_mib": _mib(proc_status_kib(pid, "VmHWM")),
                        "vmrss_mib": _mib(proc_status_kib(pid, "VmRSS")),
                    }
                    for pid in workers
                ],  # fmt: skip
                "master_vmhwm_mib": _mib(proc_status_kib(portal.proc.pid, "VmHWM")),
            }
        out["views_sent"] = bench.views_sent
    finally:
        portal.stop()
        if eraser is not None:
            eraser.engine.dispose()
    out["tokens_stored_after"] = count_tokens(database_url)
    return out


def _mib(kib: int | None) -> float | None:
    return round(kib / 1024, 1) if kib is not None else None


def run_backfills(workdir: Path, sample: int) -> list[dict]:
    """Section 3: each size in its own process, so each peak RSS is that size's alone."""
    results = []
    for keys, users in BACKFILL_SIZES:
        log(f"backfill: {keys} keys over {users} users")
        path = workdir / f"backfill-{keys}-{users}.json"
        with open(workdir / f"backfill-{keys}-{users}.log", "wb") as err:
            subprocess.run(
                [sys.executable, "-m", "scripts.benchmarks.backfill", str(path),
                 "--users", str(users), "--keys", str(keys), "--baseline-sample", str(sample)],
                cwd=ROOT, check=True, timeout=240, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        results.append(json.loads(path.read_text()))
    return results


def log(message: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50, help="added upstream latency")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--keys-per-user", type=int, default=3)
    parser.add_argument("--days", type=int, default=60, help="days of usage per key")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--http-cache-url", help="default: a SQLite file per design")
    parser.add_argument("--backfill-sample", type=int, default=200)
    parser.add_argument("--skip-backfill", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir}/portal.sqlite"
    figures: dict = {"machine": machine()}
    log(f"work folder {workdir}")
    migrate(database_url, workdir)
    sim = Sim.start(workdir, args.latency_ms)
    try:
        fixture = seed(sim, database_url, args.users, args.keys_per_user, args.days)
        figures["settings"] = {
            "latency_ms": args.latency_ms,
            "gunicorn": {"workers": args.workers, "threads": args.threads,
                         "worker_class": "gthread"},
            "database": "PostgreSQL" if database_url.startswith("postgresql") else "SQLite file",
            "http_cache": "SQLite file per design" if not args.http_cache_url else "Redis"
            if args.http_cache_url.startswith("redis") else args.http_cache_url,
            "users": args.users, "keys_per_user": args.keys_per_user,
            "usage_days": args.days, "limits": {
                "cold": COLD.max_requests, "warm": WARM.max_requests,
                "deadline_s": COLD.deadline_s},
        }  # fmt: skip
        log("upstream alone")
        figures["upstream_direct"] = direct_upstream(sim, fixture)
        figures["lookup"] = run_design(args, sim, fixture, database_url, workdir, "lookup")
        figures["stored"] = run_design(args, sim, fixture, database_url, workdir, "stored")
    finally:
        sim.stop()
    if not args.skip_backfill:
        figures["backfill"] = run_backfills(workdir, args.backfill_sample)
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    figures["machine"]["loadavg_end"] = _loadavg()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(figures, indent=2) + "\n")
    (out / "benchmarks.md").write_text(render(figures))
    soak = out / "soak.json"
    if soak.exists():  # keep the soak's section (scripts/bench soak writes it)
        update_benchmarks_md(out / "benchmarks.md", json.loads(soak.read_text()))
    scale = out / "scale.json"
    if scale.exists():  # and the usage-at-scale section (scripts/bench scale)
        update_scale_section(out / "benchmarks.md", json.loads(scale.read_text()))
    log(f"done in {figures['total_seconds']} s; wrote {out}/benchmarks.md and benchmarks.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
