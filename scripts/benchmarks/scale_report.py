"""The "Usage at scale" section of docs/benchmarks.md, from scale.json (benchmarks/scale.py).

Kept between markers, so the main benchmark (which rewrites the file) and this one can run
separately; scripts/benchmarks/run.py puts the section back from scale.json.
"""

from __future__ import annotations

from pathlib import Path

START, END = "<!-- scale:start -->", "<!-- scale:end -->"
DESIGNS = ("before", "day cache")


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(head: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _outcome(view: dict) -> str:
    if view.get("status") is None:
        return f"no answer ({view.get('detail')})"
    if view.get("panel"):
        return f"error panel: {view.get('detail') or view.get('status')}"
    return "shown"


def _measured(figures: dict, name: str) -> list[str]:
    """When and under which load a scenario's figures were measured (runs of ``--only``)."""
    run = figures.get(f"{name}_run")
    if run is None:
        return []
    return [f"Measured {run['date']}, load average {run['loadavg_start']} at the start and "
            f"{run.get('loadavg_end', '?')} at the end of that run.", ""]  # fmt: skip


def render(figures: dict) -> str:
    m = figures["machine"]
    lines = [
        "## Usage at scale: the day cache and windows, beside the portal before them",
        "",
        f"Written by `scripts/bench scale` (scripts/benchmarks/scale.py) on {m['date']}: "
        f"{m['cpu_model']}, nproc {m['nproc']}, Python {m['python']}; load average "
        f"{m['loadavg_start']} at the start and {m['loadavg_end']} at the end (other work on "
        f"the machine counts here); raw figures in [scale.json](scale.json). Each scenario ran "
        f"on two gunicorn portals (2 workers x 8 threads, SQLite, answer cache in a SQLite "
        f"file) one after the other against one simulator with +{figures['latency_ms']} ms per "
        f"LiteLLM call: *before* is `git archive {figures['baseline_ref']}` (the portal before "
        f"the day cache), *day cache* this checkout; each starts with an empty cache. Calls are "
        f"the simulator's count of usage calls; CPU is the gunicorn workers' (user + system), "
        f"simulator CPU the simulator's during the cold view.",
        "",
    ]
    if "presets" in figures:
        p = figures["presets"]
        lines += ["### Switching presets (all keys of a user: 3 keys, 60 days)", ""]
        lines += _measured(figures, "presets")
        rows = []
        for step in ("30d", "7d", "this_month", "last_month"):
            row = [step]
            for d in DESIGNS:
                s = p[d]["steps"][step]
                row += [s["calls_per_view"], s["p50_ms"]]
            rows.append(row)
        rows.append(["CPU ms per view", "", p["before"]["cpu_ms_per_view"], "",
                     p["day cache"]["cpu_ms_per_view"]])  # fmt: skip
        lines += _table(["Step", "before: calls/view", "before: p50 ms", "day cache: calls/view",
                         "day cache: p50 ms"], rows)  # fmt: skip
        lines += ["", f"{p['day cache']['views'] // 4} users, each switching once through the "
                  "four presets in this order (full pages).", ""]  # fmt: skip
    if "heavy" in figures:
        h = figures["heavy"]
        lines += [f"### One user, 200 keys, 366 days, a proxy without `/aggregated` "
                  f"({h['rows']:,} rows)", ""]  # fmt: skip
        lines += _measured(figures, "heavy")
        rows = []
        for d in DESIGNS:
            v = h[d]
            rows.append([d, _outcome(v["cold"]), v["cold"]["calls"], v["cold"]["ms"],
                         v["cold_cpu_ms"], v.get("cold_sim_cpu_ms"), v["warm_p50_ms"],
                         v["warm_calls"], v["peak_worker_rss_mib"], v["loadavg"]])  # fmt: skip
        lines += _table(["", "cold view", "calls", "cold ms", "cold CPU ms",
                         "simulator CPU ms", "warm p50 ms", "warm calls", "peak worker RSS MiB",
                         "load avg"], rows)  # fmt: skip
        lines.append("")
    if "admin" in figures:
        a = figures["admin"]
        lines += [f"### Admin view: {a['keys']:,} keys of 500 users, 90 days ({a['rows']:,} rows)",
                  ""]  # fmt: skip
        lines += _measured(figures, "admin")
        rows = []
        for endpoint in ("aggregated", "paginated only"):
            for d in DESIGNS:
                v = a[endpoint][d]
                rows.append([endpoint, d, _outcome(v["cold"]), v["cold"]["calls"],
                             v["cold"]["ms"], v["cold_cpu_ms"], v.get("cold_sim_cpu_ms"),
                             v.get("warm_p50_ms"), v.get("warm_calls"),
                             v.get("warm_cpu_ms_per_view"), v["peak_worker_rss_mib"],
                             v["loadavg"]])  # fmt: skip
        lines += _table(["proxy", "", "cold view", "calls", "cold ms", "cold CPU ms",
                         "simulator CPU ms", "warm p50 ms", "warm calls", "warm CPU ms/view",
                         "peak worker RSS MiB", "load avg"], rows)  # fmt: skip
        lines.append("")
    lines += [f"- {note}" for note in figures.get("notes", ())]
    if figures.get("notes"):
        lines.append("")
    lines.append(f"Whole run: {figures['total_seconds']} s.")
    return "\n".join(lines) + "\n"


def update_benchmarks_md(path: Path, figures: dict) -> None:
    """Replace (or append) the section between the markers."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{START}\n{render(figures)}{END}\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
