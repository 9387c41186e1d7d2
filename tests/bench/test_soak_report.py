"""The soak's section of docs/benchmarks.md: replaced in place, never touching the rest."""

from __future__ import annotations

from scripts.benchmarks.soak_report import END, START, update_benchmarks_md


def _figures(rps: float) -> dict:
    machine = {"date": "2026-12-01 01:00 UTC", "cpu_model": "cpu", "nproc": 2, "python": "3.11",
               "loadavg_start": "1 1 1", "loadavg_end": "2 2 2"}  # fmt: skip
    route = {"requests": 10, "rps": 1.0, "p50_ms": 5.0, "p95_ms": 9.0, "p99_ms": 9.9,
             "max_ms": 10.0, "statuses": {"200": 10}}  # fmt: skip
    return {
        "machine": machine,
        "settings": {
            "minutes": 1,
            "users": 16,
            "workers": 2,
            "threads": 4,
            "database": "SQLite file",
        },
        "soak": {
            "requests": 10,
            "wall_s": 10.0,
            "rps": rps,
            "statuses": {"200": 10},
            "failed_checks": 0,
            "failed_check_kinds": {},
            "routes": {"GET /usage": route},
            "healthz": {
                "probes": 200,
                "failed": 0,
                "p50_ms": 3.0,
                "p99_ms": 9.0,
                "max_ms": 20.0,
                "max_during_hang_ms": 20.0,
                "over_100_ms": 0,
            },
            "rss": [{"t_s": t, "workers_mib": [80.0, 81.0]} for t in range(0, 100, 5)],
        },
        "writers": {
            "latency_ms": 50,
            "runs": [
                {
                    "server": "gunicorn",
                    "workload": "create",
                    "clients": 16,
                    "ok": 320,
                    "writes_per_s": 90.5,
                    "p95_ms": 300.0,
                    "max_ms": 410.0,
                    "other": {},
                }
            ],
        },
    }


def test_section_is_appended_then_replaced_in_place(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\nthe main run's tables\n")
    update_benchmarks_md(path, _figures(rps=12.5))
    first = path.read_text()
    assert first.startswith("# Benchmarks\n\nthe main run's tables\n")
    assert first.count(START) == 1 and first.count(END) == 1 and "| 12.50 |" in first
    path.write_text(first + "\n## After\n")
    update_benchmarks_md(path, _figures(rps=99.5))
    second = path.read_text()
    assert second.count(START) == 1 and "| 12.50 |" not in second and "| 99.50 |" in second
    assert "the main run's tables" in second and second.rstrip().endswith("## After")
    assert second.count("80.0, 81.0") == 12  # RSS thinned to 12 samples
    assert "| gunicorn | create | 16 | 320 |" in second
