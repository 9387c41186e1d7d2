"""Usage at scale, each scenario side by side with the portal before the usage day cache.

Three scenarios, each run against two gunicorn portals on the same simulator (+50 ms per
LiteLLM call): this checkout ("day cache") and a copy of ``--baseline-ref`` exported with
``git archive`` ("before"), one after the other, each with an empty cache:

- preset switching: Last 30 days → Last 7 days → This month → Last month, all keys of a user
  (3 keys, 60 days), repeated for ``--switch-users`` users: LiteLLM calls and p50 per step;
- a heavy user: 200 keys x 366 days x 2 models (146,400 rows) on a proxy without
  ``/aggregated`` (LiteLLM before 1.76): calls, cold time, warm p50, peak worker RSS;
- the admin view over 500 users / 10,000 keys / 90 days (each key used on 10 of them, 100,000
  rows), on a proxy with ``/aggregated`` and on one without: calls, cold and warm time.

Every figure comes with the portal workers' CPU per view and the load average; a cold view's
also with the simulator's CPU (a test double's: a real LiteLLM spends it on another machine). Writes
``scale.json`` and the "Usage at scale" section of ``benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

from scripts.benchmarks.run import _loadavg, machine
from scripts.benchmarks.services import (
    ROOT,
    Portal,
    Sim,
    cpu_seconds,
    header_sign_in_env,
    migrate,
    proc_status_kib,
)

# The portal as it was before the usage day cache (kept so the comparison can be re-run).
BASELINE_REF = "e358d09"
ADMIN = "admin@example.com"
TODAY = dt.datetime.now(dt.UTC).date()
PRESET_STEPS = ("30d", "7d", "this_month", "last_month")
USAGE_PATHS = ("/user/daily/activity", "/user/daily/activity/aggregated")


def log(message: str) -> None:
    print(f"[scale] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def token_of(name: str) -> str:
    return hashlib.sha256(f"sk-bench-{name}".encode()).hexdigest()


# --------------------------------------------------------------------------- data


def seed_portal(database_url: str, users: list[tuple[str, list[tuple[str, str]]]]) -> None:
    """Users and their keys (token ids stored) in the portal's database, in bulk."""
    engine = sa.create_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        for email, keys in users:
            user_id = conn.execute(
                sa.text("INSERT INTO users (email, litellm_user_id, display_name, is_admin, "
                        "created_at) VALUES (:e, :e, :e, false, :n) RETURNING id"),
                {"e": email, "n": now},
            ).scalar_one()  # fmt: skip
            if not keys:
                continue
            conn.execute(
                sa.text("INSERT INTO api_keys (user_id, alias, label, key_prefix, "
                        "litellm_token_id, created_at) VALUES (:u, :a, :l, 'sk-...', :t, :n)"),
                [{"u": user_id, "a": alias, "l": alias.rsplit("--", 1)[1], "t": token, "n": now}
                 for alias, token in keys],
            )  # fmt: skip
    engine.dispose()


def usage_row(token: str, user: str, day: dt.date, model: str, n: int) -> dict:
    return {"token": token, "user_id": user, "date": day.isoformat(), "model": model,
            "provider": "openai" if model.startswith("gpt") else "anthropic",
            "prompt_tokens": 500 + n % 97, "completion_tokens": 100 + n % 13,
            "spend": round(0.001 + (n % 50) / 10000, 5), "successful_requests": 2}  # fmt: skip


# --------------------------------------------------------------------------- one portal


class Bench:
    """One portal (this checkout or the baseline) and the measurements made against it."""

    def __init__(self, name: str, root: Path, sim: Sim, database_url: str, workdir: Path):
        env = {
            **header_sign_in_env(sim, database_url),
            "PORTAL_ENV": "production",
            "ADMIN_EMAILS": ADMIN,
            "HTTP_CACHE_URL": f"sqlite:///{workdir}/http_cache_{name}.sqlite",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "8",
            "LOG_LEVEL": "WARNING",
        }
        self.name = name
        self.sim = sim
        self.portal = Portal.start(workdir, env, name=f"scale-{name}", root=root)
        self.session = requests.Session()

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.portal.worker_pids())

    def sim_cpu(self) -> float:
        """The simulator's CPU so far: a test double's, which a real LiteLLM spends elsewhere."""
        return cpu_seconds(self.sim.proc.pid)

    def peak_rss_mib(self) -> float:
        peaks = [proc_status_kib(p, "VmHWM") or 0 for p in self.portal.worker_pids()]
        return round(max(peaks) / 1024, 1)

    def view(self, email: str, params: dict, *, timeout: float = 120) -> dict:
        """One full usage page; its time, LiteLLM calls, status and whether it showed an
        error panel."""
        path = "/admin/usage" if email == ADMIN else "/usage"
        self.sim.reset_calls()
        started = time.perf_counter()
        try:
            response = self.session.get(
                self.portal.base_url + path, params=params,
                headers={"X-Forwarded-Email": email}, timeout=timeout,
            )  # fmt: skip
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            status, text = None, type(exc).__name__
        elapsed = time.perf_counter() - started
        calls = self.sim.calls_by_path()
        return {
            "ms": round(elapsed * 1000, 1),
            "calls": sum(calls.get(p, 0) for p in USAGE_PATHS),
            "status": status,
            "panel": status != 200 or 'class="panel panel-error"' in text,
            "detail": _panel_title(text) if status == 200 else text[:80],
        }

    def stop(self) -> None:
        self.portal.stop()


def _panel_title(html: str) -> str | None:
    marker = '<h2 class="panel-title">'
    if 'id="usage-api-error"' not in html or marker not in html:
        return None
    start = html.index(marker, html.index('id="usage-api-error"')) + len(marker)
    return html[start : html.index("<", start)]


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


# --------------------------------------------------------------------------- scenarios


def presets(bench: Bench, emails: list[str]) -> dict:
    steps: dict[str, list[dict]] = {step: [] for step in PRESET_STEPS}
    cpu = bench.cpu()
    for email in emails:
        for step in PRESET_STEPS:
            steps[step].append(bench.view(email, {"key": "all", "preset": step}))
    views = len(emails) * len(PRESET_STEPS)
    return {
        "steps": {
            step: {
                "calls_per_view": sum(v["calls"] for v in vs) / len(vs),
                "p50_ms": p50([v["ms"] for v in vs]),
                "errors": sum(v["panel"] for v in vs),
            }
            for step, vs in steps.items()
        },  # fmt: skip
        "cpu_ms_per_view": round((bench.cpu() - cpu) * 1000 / views, 1),
        "views": views,
    }


def heavy_user(bench: Bench, email: str, start: dt.date, warm_views: int) -> dict:
    params = {"key": "all", "start_date": start.isoformat(), "end_date": TODAY.isoformat()}
    cpu, sim_cpu = bench.cpu(), bench.sim_cpu()
    cold = bench.view(email, params)
    cold_cpu, cold_sim_cpu = bench.cpu() - cpu, bench.sim_cpu() - sim_cpu
    warm = [bench.view(email, params) for _ in range(warm_views)]
    return {
        "cold": cold,
        "cold_cpu_ms": round(cold_cpu * 1000, 1),
        "cold_sim_cpu_ms": round(cold_sim_cpu * 1000, 1),
        "warm_p50_ms": p50([v["ms"] for v in warm if not v["panel"]]),
        "warm_calls": sum(v["calls"] for v in warm),
        "warm_errors": sum(v["panel"] for v in warm),
        "peak_worker_rss_mib": bench.peak_rss_mib(),
    }


def admin_view(bench: Bench, start: dt.date, warm_views: int) -> dict:
    params = {"user": "all", "key": "all", "start_date": start.isoformat(),
              "end_date": TODAY.isoformat()}  # fmt: skip
    cpu, sim_cpu = bench.cpu(), bench.sim_cpu()
    cold = bench.view(ADMIN, params, timeout=90)
    cold_cpu, cold_sim_cpu = bench.cpu() - cpu, bench.sim_cpu() - sim_cpu
    out = {"cold": cold, "cold_cpu_ms": round(cold_cpu * 1000, 1),
           "cold_sim_cpu_ms": round(cold_sim_cpu * 1000, 1)}  # fmt: skip
    if not cold["panel"]:
        cpu = bench.cpu()
        warm = [bench.view(ADMIN, params) for _ in range(warm_views)]
        out.update(
            warm_p50_ms=p50([v["ms"] for v in warm]),
            warm_calls=sum(v["calls"] for v in warm),
            warm_cpu_ms_per_view=round((bench.cpu() - cpu) * 1000 / warm_views, 1),
        )
    out["peak_worker_rss_mib"] = bench.peak_rss_mib()
    return out


# --------------------------------------------------------------------------- the run


def export_baseline(ref: str, workdir: Path) -> Path:
    """``git archive`` of ``ref`` into the work folder (never a worktree of the repository)."""
    target = workdir / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True, timeout=60
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=60)
    return target


def both(name: str, roots: dict[str, Path], sim: Sim, db: str, workdir: Path, measure) -> dict:
    """``measure(bench)`` on the baseline and on this checkout, each on a fresh cache."""
    out = {}
    for design, root in roots.items():
        log(f"{name}: {design}")
        bench = Bench(f"{name}-{design}", root, sim, db, workdir)
        try:
            out[design] = measure(bench)
        finally:
            bench.stop()
        out[design]["loadavg"] = _loadavg()
    return out


SCENARIOS = ("presets", "heavy", "admin")


def keep_other_scenarios(figures: dict, only: set[str], path: Path) -> None:
    """A run of some scenarios (``--only``) keeps the others' figures and notes from ``path``;
    each scenario's figures carry the machine and time of the run that measured them."""
    previous = json.loads(path.read_text()) if path.exists() else {}
    for name in SCENARIOS:
        if name in only:
            figures[f"{name}_run"] = figures["machine"]
        elif name in previous:
            figures[name] = previous[name]
            figures[f"{name}_run"] = previous.get(f"{name}_run", previous["machine"])
    if only != set(SCENARIOS) and previous.get("notes"):
        figures["notes"] = previous["notes"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--switch-users", type=int, default=20)
    parser.add_argument("--warm-views", type=int, default=10)
    parser.add_argument("--admin-users", type=int, default=500)
    parser.add_argument("--admin-keys-per-user", type=int, default=20)
    parser.add_argument("--only", choices=SCENARIOS, action="append")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    only = set(args.only or SCENARIOS)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="portal-scale-"))
    log(f"work folder {workdir}")
    roots = {"before": export_baseline(args.baseline_ref, workdir), "day cache": ROOT}
    figures: dict = {"machine": machine(), "latency_ms": args.latency_ms,
                     "baseline_ref": args.baseline_ref}  # fmt: skip
    sim = Sim.start(workdir, args.latency_ms)
    try:
        if "presets" in only:
            sim.empty(args.latency_ms)  # no rows of another scenario in its answers
            db = f"sqlite:///{workdir}/presets.sqlite"
            migrate(db, workdir)
            users, rows = [], []
            for u in range(args.switch_users):
                email = f"switch{u:03d}@example.com"
                keys = [(f"switch{u:03d}--key{k}", token_of(f"switch{u}-{k}")) for k in range(3)]
                users.append((email, keys))
                for k, (_alias, token) in enumerate(keys):
                    for d in range(60):
                        day = TODAY - dt.timedelta(days=d)
                        rows.append(usage_row(token, email, day, "gpt-4o-mini", d + k))
            seed_portal(db, users)
            sim.add_usage(rows)
            emails = [e for e, _k in users]
            figures["presets"] = both("presets", roots, sim, db, workdir,
                                      lambda b: presets(b, emails))  # fmt: skip
        if "heavy" in only:
            sim.empty(args.latency_ms)  # no rows of another scenario in its answers
            sim.faults({"clear": True, "aggregated_available": False})
            db = f"sqlite:///{workdir}/heavy.sqlite"
            migrate(db, workdir)
            email = "heavy@example.com"
            keys = [(f"heavy--key{k:03d}", token_of(f"heavy-{k}")) for k in range(200)]
            seed_portal(db, [(email, keys)])
            start = TODAY - dt.timedelta(days=365)
            rows = [usage_row(token, email, start + dt.timedelta(days=d), model, d + k)
                    for k, (_a, token) in enumerate(keys) for d in range(366)
                    for model in ("gpt-4o-mini", "claude-3-5-haiku")]  # fmt: skip
            log(f"heavy: {len(rows):,} rows")
            sim.add_usage(rows)
            figures["heavy"] = both(
                "heavy",
                roots,
                sim,
                db,
                workdir,
                lambda b: heavy_user(b, email, start, args.warm_views),
            )
            figures["heavy"]["rows"] = len(rows)
            sim.faults({"aggregated_available": True})
        if "admin" in only:
            sim.empty(args.latency_ms)  # no rows of another scenario in its answers
            db = f"sqlite:///{workdir}/admin.sqlite"
            migrate(db, workdir)
            start = TODAY - dt.timedelta(days=89)
            users, rows = [], []
            for u in range(args.admin_users):
                email = f"org{u:03d}@example.com"
                keys = [(f"org{u:03d}--key{k:02d}", token_of(f"org-{u}-{k}"))
                        for k in range(args.admin_keys_per_user)]  # fmt: skip
                users.append((email, keys))
                for k, (_alias, token) in enumerate(keys):
                    for d in range((u + k) % 9, 90, 9):  # 10 of the 90 days
                        rows.append(usage_row(token, email, start + dt.timedelta(days=d),
                                              "gpt-4o-mini", u + k + d))  # fmt: skip
            seed_portal(db, users + [(ADMIN, [])])
            log(f"admin: {len(rows):,} rows")
            sim.add_usage(rows)
            figures["admin"] = {
                "rows": len(rows),
                "keys": args.admin_users * args.admin_keys_per_user,
            }
            for endpoint, available in (("aggregated", True), ("paginated only", False)):
                sim.faults({"aggregated_available": available})
                figures["admin"][endpoint] = both(
                    f"admin-{endpoint}", roots, sim, db, workdir,
                    lambda b: admin_view(b, start, args.warm_views),
                )  # fmt: skip
            sim.faults({"aggregated_available": True})
    finally:
        sim.stop()
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    figures["machine"]["loadavg_end"] = _loadavg()
    out = Path(args.out_dir)
    keep_other_scenarios(figures, only, out / "scale.json")
    (out / "scale.json").write_text(json.dumps(figures, indent=2) + "\n")
    from scripts.benchmarks.scale_report import update_benchmarks_md

    update_benchmarks_md(out / "benchmarks.md", figures)
    log(f"done in {figures['total_seconds']} s; wrote {out}/scale.json and benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
