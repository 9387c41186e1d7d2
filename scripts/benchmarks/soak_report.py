"""The "Soak" section of docs/benchmarks.md, from the figures of ``scripts/bench soak``.

The section sits between two markers, so the soak and the main benchmark (which rewrites the
rest of the file and keeps this section) each update only their own part.
"""

from __future__ import annotations

from pathlib import Path

from scripts.benchmarks.report import _table

START = "<!-- soak:start -->"
END = "<!-- soak:end -->"


def render_soak(figures: dict) -> str:
    m, s, soak = figures["machine"], figures["settings"], figures["soak"]
    health = soak["healthz"]
    rss = soak["rss"]
    parts = [
        START,
        "## Soak: concurrent users while LiteLLM misbehaves\n",
        "Written by `scripts/bench soak` (scripts/benchmarks/soak.py) on "
        f"{m['date']}: {m['cpu_model']}, "
        f"nproc {m['nproc']}, Python {m['python']}, load average {m['loadavg_start']} at the "
        f"start and {m['loadavg_end']} at the end; raw figures in [soak.json](soak.json). "
        f"{s['users']} users for {s['minutes']} min against gunicorn ({s['workers']} workers × "
        f"{s['threads']} threads, AUTH_MODE=dev) on {s['database']}, the LiteLLM simulator in "
        "its own process cycling through +400 ms latency, 500s, 200 with HTML, 200 with cut "
        "JSON and a 6 s hang, each followed by a recovery check (scripts/benchmarks/storm.py, "
        "the scenario of tests/production/test_load_faults.py).\n",
        _table(
            ["Requests", "Wall (s)", "Requests/s", "Answers by status", "Failed checks"],
            [
                (
                    soak["requests"],
                    soak["wall_s"],
                    soak["rps"],
                    _statuses(soak["statuses"]),
                    soak["failed_checks"],
                )
            ],
        ),  # fmt: skip
    ]
    if soak["failed_check_kinds"]:
        parts.append(
            "Most frequent failed checks (phase: check → seen, count): "
            + "; ".join(f"{k} ({n})" for k, n in soak["failed_check_kinds"].items())
            + ".\n"
        )
    parts += [
        "### Latency per route\n",
        _table(
            ["Route", "Requests", "Req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "Statuses"],
            [
                (
                    route,
                    f["requests"],
                    f["rps"],
                    f["p50_ms"],
                    f["p95_ms"],
                    f["p99_ms"],
                    f["max_ms"],
                    _statuses(f["statuses"]),
                )
                for route, f in soak["routes"].items()
            ],
        ),  # fmt: skip
        "### /healthz (a probe process, a new connection every 50 ms)\n",
        _table(
            [
                "Probes",
                "Failed",
                "p50 ms",
                "p99 ms",
                "max ms",
                "max ms while LiteLLM hangs",
                "over 100 ms",
            ],
            [
                (
                    health["probes"],
                    health["failed"],
                    health["p50_ms"],
                    health["p99_ms"],
                    health["max_ms"],
                    health["max_during_hang_ms"],
                    health["over_100_ms"],
                )
            ],
        ),  # fmt: skip
        "### Worker memory (VmRSS, MiB) over time\n",
        _table(
            ["t (s)", "Workers"],
            [(r["t_s"], ", ".join(map(str, r["workers_mib"]))) for r in _thin(rss)],
        ),  # fmt: skip
        *_writers(figures.get("writers")),
        END,
    ]
    return "\n".join(parts) + "\n"


def _writers(writers: dict | None) -> list[str]:
    """scripts/benchmarks/writers.py's figures: writers on one SQLite file, each level held or
    not."""
    if not writers:
        return []
    rows = [(r["server"], r["workload"], r["clients"], r["ok"], r["writes_per_s"], r["p95_ms"],
             r["max_ms"], _statuses(r["other"]) or "none") for r in writers["runs"]]  # fmt: skip
    return [
        "### Concurrent writers on the embedded default (SQLite file)\n",
        "scripts/benchmarks/writers.py: N clients send writes back to back, released together "
        "(`sign-in`: a new person each request; `create`: a key each request, LiteLLM "
        f"+{writers['latency_ms']} ms). A level is held when no answer is other than expected.\n",
        _table(
            ["Server", "Workload", "Writers", "OK", "Writes/s", "p95 ms", "max ms", "Other"],
            rows,
        ),  # fmt: skip
    ]


def _statuses(statuses: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in statuses.items())


def _thin(samples: list[dict], at_most: int = 12) -> list[dict]:
    """At most ``at_most`` samples, evenly spread, the last one always kept."""
    if len(samples) <= at_most:
        return samples
    step = len(samples) / at_most
    picked = [samples[int(i * step)] for i in range(at_most - 1)]
    return picked + [samples[-1]]


def update_benchmarks_md(path: Path, figures: dict) -> None:
    """Replace the soak section of ``path`` (or append it), leaving the rest untouched."""
    section = render_soak(figures)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
