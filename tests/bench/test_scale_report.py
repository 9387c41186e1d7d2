"""`scripts/bench scale --only X` keeps the other scenarios' figures, each with its run's time."""

from __future__ import annotations

import json

from scripts.benchmarks.scale import keep_other_scenarios
from scripts.benchmarks.scale_report import render


def _machine(date: str) -> dict:
    return {"date": date, "cpu_model": "CPU", "nproc": 2, "python": "3.11",
            "loadavg_start": "0.1 0.1 0.1", "loadavg_end": "0.2 0.2 0.2"}  # fmt: skip


def _view(ms: int) -> dict:
    return {"cold": {"ok": True, "calls": 103, "ms": ms}, "cold_cpu_ms": 1,
            "cold_sim_cpu_ms": 1, "warm_p50_ms": 80, "warm_calls": 0,
            "peak_worker_rss_mib": 200, "loadavg": "0 0 0"}  # fmt: skip


def _heavy(ms: int) -> dict:
    return {"before": _view(ms), "day cache": _view(ms), "rows": 146_400}


def _admin(ms: int) -> dict:
    both = {"before": _view(ms), "day cache": _view(ms)}
    return {"rows": 100_000, "keys": 10_000, "aggregated": both, "paginated only": both}


def test_a_partial_run_keeps_the_other_scenarios_and_says_when_each_was_measured(tmp_path):
    path = tmp_path / "scale.json"
    earlier = {"machine": _machine("2026-12-01 08:54 UTC"), "heavy": _heavy(12_000),
               "admin": _admin(99_000), "notes": ["a note on both"]}  # fmt: skip
    path.write_text(json.dumps(earlier))
    figures = {"machine": _machine("2026-12-01 09:18 UTC"), "latency_ms": 50,
               "baseline_ref": "e358d09", "admin": _admin(11_000),
               "total_seconds": 160}  # fmt: skip

    keep_other_scenarios(figures, {"admin"}, path)

    assert figures["heavy"] == earlier["heavy"] and figures["admin"]["rows"] == 100_000
    assert figures["admin"]["aggregated"]["day cache"]["cold"]["ms"] == 11_000  # the new run
    assert figures["heavy_run"]["date"] == "2026-12-01 08:54 UTC"
    assert figures["admin_run"]["date"] == "2026-12-01 09:18 UTC"
    assert figures["notes"] == ["a note on both"]
    text = render(figures)
    heavy, admin = text.index("### One user"), text.index("### Admin view")
    assert text.index("Measured 2026-12-01 08:54 UTC", heavy) < admin
    assert text.index("Measured 2026-12-01 09:18 UTC", admin) > admin
    assert "11,000" in text and "99,000" not in text


def test_a_full_run_starts_afresh(tmp_path):
    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"machine": _machine("old"), "heavy": _heavy(1), "notes": ["x"]}))
    figures = {"machine": _machine("new"), "heavy": _heavy(2)}
    keep_other_scenarios(figures, {"presets", "heavy", "admin"}, path)
    assert figures["heavy"] == _heavy(2) and "notes" not in figures
