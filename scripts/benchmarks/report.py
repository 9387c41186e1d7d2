"""docs/benchmarks.md from the figures of one run: a table per section and the targets.

Only the figures come from the run; the verdict on each target is computed here, so the
Markdown can never claim a target the JSON does not show.
"""

from __future__ import annotations

from collections.abc import Iterable


def _table(head: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}×"


def _phase(figures: dict, design: str, cache: str, concurrency: int) -> dict:
    return next(p for p in figures[design][cache] if p["concurrency"] == concurrency)


def targets(figures: dict) -> list[dict]:
    """Each target with the measured value, whether it was met and the gap when it was not."""
    latency = figures["settings"]["latency_ms"]
    stored = figures["stored"]
    out = []

    def add(name: str, measured: float, limit: float, *, below: bool, unit: str) -> None:
        met = measured < limit if below else measured >= limit
        gap = "" if met else f"missed by {abs(measured - limit):.1f} {unit}"
        out.append({"target": name, "measured": f"{measured:g} {unit}", "met": met, "gap": gap})

    add("warm usage fragment p50 < 15 ms", stored["fragment_warm"]["p50_ms"], 15,
        below=True, unit="ms")  # fmt: skip
    add(f"cold usage fragment p50 < {latency} + 25 ms", stored["fragment_cold"]["p50_ms"],
        latency + 25, below=True, unit="ms")  # fmt: skip
    cold_calls = max(p["litellm_calls_per_view"] for p in stored["cold"])
    add("≤ 1 LiteLLM call per cold view (token stored)", cold_calls, 1.0000001,
        below=True, unit="calls")  # fmt: skip
    warm_calls = max(p["litellm_calls_per_view"] for p in stored["warm"])
    warm_calls = max(warm_calls, stored["fragment_warm"]["litellm_calls_per_view"])
    add("0 LiteLLM calls per warm view (token stored)", warm_calls, 1e-9, below=True, unit="calls")
    for run in figures.get("backfill", []):
        calls = run["backfill"]["litellm_calls"]
        bound = run["page_bound"]
        ok = calls <= bound and calls < run["keys"]
        out.append({
            "target": f"backfill {run['keys']:,} keys / {run['users']} users: calls within "
                      f"the pages needed (≤ {bound}), never one per key",
            "measured": f"{calls} calls", "met": ok,
            "gap": "" if ok else f"{calls - bound} calls over the bound",
        })  # fmt: skip
    add("≥ 200 warm usage views/s with 32 clients", _phase(figures, "stored", "warm", 32)["rps"],
        200, below=False, unit="views/s")  # fmt: skip
    return out


def render(figures: dict) -> str:
    """The whole Markdown document."""
    m, s = figures["machine"], figures["settings"]
    latency = s["latency_ms"]
    parts = [
        "# Benchmarks\n",
        "Written by `scripts/bench` (scripts/benchmarks/run.py) in one run; the raw figures are in "
        "[benchmarks.json](benchmarks.json). Re-run with `scripts/bench` (about 3–5 minutes "
        "on 2 cores); numbers move by a few percent between runs on a shared machine.\n",
        "## Machine and settings\n",
        _table(
            ["", ""],
            [
                ("Date", m["date"]),
                ("CPU", f"{m['cpu_model']} — nproc {m['nproc']}"),
                ("RAM", f"{m['ram_gib']} GiB"),
                ("Python", m["python"]),
                ("OS", m["platform"]),
                (
                    "Portal",
                    f"gunicorn gthread, {s['gunicorn']['workers']} workers × "
                    f"{s['gunicorn']['threads']} threads, PORTAL_ENV=production, "
                    "AUTH_MODE=header (X-Forwarded-Email), LOG_LEVEL=INFO",
                ),
                ("Database", s["database"]),
                ("LiteLLM response cache", s["http_cache"]),
                ("Upstream", f"LiteLLM simulator in its own process, +{latency} ms per call"),
                (
                    "Data",
                    f"{s['users']} users × {s['keys_per_user']} keys, {s['usage_days']} days "
                    "of usage per key; views are per key, 14–21-day custom ranges",
                ),
                (
                    "Load",
                    "scripts/benchmarks/load.py: threads with one requests.Session each, loopback, "
                    f"each phase ≤ its request count and ≤ {s['limits']['deadline_s']:g} s",
                ),
                (
                    "Load average",
                    f"{m['loadavg_start']} at the start, {m['loadavg_end']} at the end "
                    "(1/5/15 min; other work on the machine counts here)",
                ),
                ("Whole run", f"{figures['total_seconds']} s"),
            ],
        ),
        "All processes (load generator, two gunicorn workers, simulator) share the same cores, "
        "so the client's own CPU time is part of every latency below.\n",
    ]
    parts += _section_views(figures)
    parts += _section_overhead(figures)
    if figures.get("backfill"):
        parts += _section_backfill(figures)
    parts += _section_rss(figures)
    parts += ["## Targets\n", _table(
        ["Target", "Measured", "Met"],
        [(t["target"], t["measured"], "yes" if t["met"] else f"**no** — {t['gap']}")
         for t in targets(figures)],
    )]  # fmt: skip
    parts += _why_throughput(figures)
    return "\n".join(parts)


def _why_throughput(figures: dict) -> list[str]:
    """The CPU arithmetic behind the warm throughput at 32 clients, met or not."""
    p = _phase(figures, "stored", "warm", 32)
    portal = p.get("portal_cpu_ms_per_view")
    client = p.get("client_cpu_ms_per_view")
    if not portal or client is None:
        return []
    cores = figures["machine"]["nproc"] or 1
    sim = p.get("sim_cpu_ms_per_view") or 0.0
    alone = cores * 1000 / portal
    shared = cores * 1000 / (portal + client + sim)
    return [
        "### Warm throughput and the CPU\n",
        f"Warm views at 32 clients are CPU-bound: the two gunicorn workers spent {portal} ms "
        f"of CPU per view, so {cores} cores could serve at most {alone:.0f} views/s with "
        f"nothing else running. The load generator on the same cores spent {client} ms per "
        f"view (and the simulator {sim} ms), which puts the ceiling of this setup at "
        f"{shared:.0f} views/s before any other work on the machine (load average "
        f"{figures['machine']['loadavg_end']} at the end); {p['rps']} views/s were measured."
        + (
            ""
            if p["rps"] >= 200
            else " Reaching 200 views/s here needs cheaper warm views or the load generator "
            "on another machine."
        )
        + "\n",
    ]


def _section_views(figures: dict) -> list[str]:
    designs = (("lookup", "lookup per view (pre-column)"), ("stored", "token stored (today)"))
    rows = []
    for design, label in designs:
        for cache in ("cold", "warm"):
            for p in figures[design][cache]:
                rows.append((label, cache, p["concurrency"], p["litellm_calls_per_view"],
                             p.get("p50_ms"), p.get("p95_ms"), p.get("p99_ms"), p["rps"],
                             f"{p['requests_ok']}/{p['requests_sent']}",
                             p.get("portal_cpu_ms_per_view"), p.get("client_cpu_ms_per_view"),
                             p.get("sim_cpu_ms_per_view")))  # fmt: skip
    ratios = []
    for cache in ("cold", "warm"):
        for p in figures["stored"][cache]:
            c = p["concurrency"]
            q = _phase(figures, "lookup", cache, c)
            ratios.append((cache, c, _ratio(q["litellm_calls_per_view"] or None,
                                            p["litellm_calls_per_view"] or None),
                           _ratio(q.get("p50_ms"), p.get("p50_ms")),
                           _ratio(q.get("p95_ms"), p.get("p95_ms")),
                           _ratio(p["rps"], q["rps"])))  # fmt: skip
    return [
        "## 1. Usage views: lookup per view vs token stored\n",
        "Full usage pages (`GET /usage?key=…&start_date=…&end_date=…`). *Lookup per view* "
        "emulates the design before the token column: `LITELLM_KEY_LIST_TTL=0` and the "
        "benchmark clears the viewed key's stored token id before each view, so every view "
        "pays `/key/list` (the portal's write of the token found and the benchmark's "
        "clearing of it are two writes per view the old design did not have). "
        "*Cold*: every view asks for a (key, range) never asked before, so the LiteLLM "
        "response cache misses. *Warm*: each (key, range) was viewed once before the phase. "
        "Calls per view are counted by the simulator.\n",
        _table(
            [
                "Design",
                "Cache",
                "Clients",
                "LiteLLM calls/view",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "views/s",
                "ok/sent",
                "portal CPU ms/view",
                "client CPU ms/view",
                "sim CPU ms/view",
            ],
            rows,
        ),
        "CPU ms/view: CPU time the gunicorn workers, the load generator and the simulator "
        "used during the phase (/proc, getrusage), divided by the views sent. “ok/sent” below "
        "the phase's count means the phase stopped at its deadline.\n",
        "Ratio lookup ÷ stored (throughput: stored ÷ lookup; “–” where stored makes 0 calls):\n",
        _table(["Cache", "Clients", "calls/view", "p50", "p95", "views/s gain"], ratios),
    ]


def _section_overhead(figures: dict) -> list[str]:
    stored, latency = figures["stored"], figures["settings"]["latency_ms"]
    warm, cold = stored["fragment_warm"], stored["fragment_cold"]
    direct = figures["upstream_direct"]
    rows = [
        ("warm fragment (0 LiteLLM calls)", warm["p50_ms"], warm["p95_ms"],
         warm["litellm_calls_per_view"], warm["p50_ms"]),
        (f"cold fragment − {latency} ms added latency", cold["p50_ms"], cold["p95_ms"],
         cold["litellm_calls_per_view"], round(cold["p50_ms"] - latency, 2)),
        ("cold fragment − the simulator's whole answer time", cold["p50_ms"], cold["p95_ms"],
         cold["litellm_calls_per_view"], round(cold["p50_ms"] - direct["p50_ms"], 2)),
    ]  # fmt: skip
    return [
        "## 2. The portal's own overhead\n",
        "Usage fragments (`HX-Request: true`, what the filters swap), token stored, one client. "
        f"The simulator answered a daily-activity call alone in {direct['p50_ms']} ms p50 "
        f"({direct['p95_ms']} ms p95): {latency} ms of added latency plus its own work.\n",
        _table(["Fragment", "p50 ms", "p95 ms", "LiteLLM calls/view", "portal p50 ms"], rows),
    ]


def _section_backfill(figures: dict) -> list[str]:
    latency = figures["settings"]["latency_ms"]
    rows = []
    for run in figures["backfill"]:
        b, base = run["backfill"], run["baseline"]
        rows.append((f"{run['keys']:,} / {run['users']}", b["litellm_calls"], run["page_bound"],
                     b["wall_seconds"], b.get("peak_python_mib"), b["peak_rss_mib"],
                     base["extrapolated_calls"], base["extrapolated_wall_seconds"],
                     round(b["wall_seconds"] + b["litellm_calls"] * latency / 1000, 1),
                     round(base["extrapolated_wall_seconds"]
                           + base["extrapolated_calls"] * latency / 1000, 1)))  # fmt: skip
    sample = figures["backfill"][0]["baseline"]["sample_keys"]
    return [
        "## 3. `flask backfill-tokens`\n",
        "scripts/benchmarks/backfill_service.py's service run and its one-lookup-per-key baseline "
        "(`/key/list?key_alias=…`), each size in its own process, simulator in-process with "
        "no added latency, SQLite file. Peak Python memory is tracemalloc's (a second, traced "
        "run); peak RSS is the process's, simulator and 10,000 seeded keys included. The "
        f"baseline ran on a random sample of {sample} keys and its time is scaled to all keys "
        "(1 call per key, checked); an unsampled baseline at 10,000 keys was stopped "
        "unfinished after 13 minutes on this shared machine, so the scaled figure is, if "
        "anything, low. The baseline's peak memory is not traced (tracing a sample would not "
        "show the full run's peak). The last two columns add the benchmark's "
        f"{latency} ms per LiteLLM call to each wall time.\n",
        _table(
            [
                "Keys / users",
                "calls",
                "page bound",
                "wall s",
                "peak Python MiB",
                "peak RSS MiB",
                "baseline calls",
                "baseline wall s",
                f"wall s at +{latency} ms",
                f"baseline at +{latency} ms",
            ],
            rows,
        ),  # fmt: skip
        "Page bound = ⌈keys / 100⌉ + users (one global sweep, or one sweep per user).\n",
    ]


def _section_rss(figures: dict) -> list[str]:
    rss = figures["stored"]["rss"]
    rows = [(w["pid"], w["vmhwm_mib"], w["vmrss_mib"]) for w in rss["workers"]]
    return [
        "## 4. Memory of a gunicorn worker\n",
        f"VmHWM (peak RSS) from /proc/<pid>/status of each worker after {rss['views_served']:,} "
        f"usage views (pages and fragments, cold and warm) on this instance; "
        f"gunicorn master: {rss['master_vmhwm_mib']} MiB.\n",
        _table(["Worker pid", "VmHWM MiB", "VmRSS MiB"], rows),
    ]
