"""Smoke test of the benchmark's load generator and statistics (no timing assertions)."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
from flask import Flask

from app.litellm_sim import run_in_thread
from scripts.benchmarks.load import LoadResult, percentile, run_load
from scripts.benchmarks.report import render, targets


@pytest.mark.parametrize(
    ("p", "expected"), [(0, 1.0), (50, 5.5), (95, 9.55), (99, 9.91), (100, 10.0), (25, 3.25)]
)
def test_percentile_interpolates_linearly_between_ranks(p, expected):
    data = [7, 3, 10, 1, 5, 2, 9, 4, 8, 6]  # unsorted on purpose
    assert percentile(data, p) == pytest.approx(expected)


def test_percentile_matches_the_standard_library_inclusive_quantiles():
    data = [0.5, 12.0, 3.25, 3.25, 40.0, 7.0, 0.1, 19.5, 2.0, 8.75, 11.0]
    cuts = statistics.quantiles(data, n=100, method="inclusive")  # cuts[i] is percentile i+1
    for p in (1, 10, 50, 90, 95, 99):
        assert percentile(data, p) == pytest.approx(cuts[p - 1])
    assert percentile([42.0], 99) == 42.0


@pytest.mark.parametrize(("values", "p"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_refuses_nonsense(values, p):
    with pytest.raises(ValueError):
        percentile(values, p)


def test_summary_reports_milliseconds_of_successful_requests_only():
    result = LoadResult(concurrency=2, latencies_s=[i / 1000 for i in range(1, 101)], wall_s=2.0)
    result.statuses.update({200: 100, 502: 3})
    result.errors.update({"ConnectionError": 1})
    summary = result.summary()
    assert summary["requests_ok"] == 100
    assert summary["requests_sent"] == 104
    assert summary["rps"] == 50.0
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p95_ms"] == pytest.approx(95.05)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert summary["statuses"] == {"200": 100, "502": 3}
    assert summary["errors"] == {"ConnectionError": 1}


@pytest.fixture(scope="module")
def target_server():
    """A tiny in-process HTTP server that counts hits: /ok, /fail (503), /slow."""
    hits: dict[str, int] = {}
    seen_headers: list[str] = []
    lock = threading.Lock()
    web = Flask("bench-smoke")

    @web.get("/<name>")
    def endpoint(name: str):
        from flask import request

        with lock:
            hits[name] = hits.get(name, 0) + 1
            seen_headers.append(request.headers.get("X-Forwarded-Email", ""))
        if name == "slow":
            time.sleep(0.2)
        return ("no", 503) if name == "fail" else "ok"

    server = run_in_thread(web)
    server.hits, server.seen_headers, server.lock = hits, seen_headers, lock
    yield server
    server.shutdown()


def test_run_load_sends_exactly_the_requested_count_from_every_client(target_server):
    def make(n: int):
        return f"{target_server.base_url}/ok", {"X-Forwarded-Email": f"user{n % 3}@example.com"}

    result = run_load(make, concurrency=4, max_requests=23, deadline_s=30)
    assert target_server.hits["ok"] == 23
    assert result.ok == 23 and result.sent == 23 and not result.deadline_hit
    assert result.statuses == {200: 23}
    assert len(result.latencies_s) == 23 and all(v > 0 for v in result.latencies_s)
    assert result.rps > 0
    assert set(target_server.seen_headers) >= {f"user{i}@example.com" for i in range(3)}


def test_run_load_counts_but_never_times_unexpected_statuses_and_errors(target_server):
    closed = "http://127.0.0.1:9/refused"

    def make(n: int):
        return (f"{target_server.base_url}/fail" if n % 2 else closed), {}

    result = run_load(make, concurrency=2, max_requests=6, deadline_s=30, timeout_s=2)
    assert result.ok == 0 and result.latencies_s == []
    assert result.statuses == {503: 3}
    assert sum(result.errors.values()) == 3
    assert "p50_ms" not in result.summary()


def test_run_load_stops_at_the_deadline_before_the_count(target_server):
    before = target_server.hits.get("slow", 0)
    result = run_load(
        lambda n: (f"{target_server.base_url}/slow", {}),
        concurrency=2,
        max_requests=1000,
        deadline_s=0.5,
    )
    assert result.deadline_hit
    assert 1 <= result.sent < 20
    assert target_server.hits["slow"] - before == result.sent


def _figures(warm_rps: float, warm_fragment_p50: float, cold_calls: float) -> dict:
    def phase(c, calls, p50, rps):
        return {"concurrency": c, "litellm_calls_per_view": calls, "p50_ms": p50, "p95_ms": p50,
                "p99_ms": p50, "rps": rps, "requests_ok": 10, "requests_sent": 10}  # fmt: skip

    def design(cold, warm):
        return {"cold": [phase(c, cold, 70.0, 50.0) for c in (1, 8, 32)],
                "warm": [phase(c, warm, 10.0, warm_rps) for c in (1, 8, 32)],
                "tokens_stored_after": 0}  # fmt: skip

    stored = design(cold_calls, 0.0)
    stored["fragment_warm"] = phase(1, 0.0, warm_fragment_p50, 90.0)
    stored["fragment_cold"] = phase(1, 1.0, 66.0, 14.0)
    stored["rss"] = {"views_served": 1200, "master_vmhwm_mib": 25.0,
                     "workers": [{"pid": 1, "vmhwm_mib": 90.0, "vmrss_mib": 88.0}]}  # fmt: skip
    return {
        "machine": {"date": "d", "cpu_model": "cpu", "nproc": 2, "ram_gib": 4.0, "python": "3",
                    "platform": "linux", "loadavg_start": "0", "loadavg_end": "0"},
        "settings": {"latency_ms": 50, "gunicorn": {"workers": 2, "threads": 8},
                     "database": "SQLite file", "http_cache": "SQLite", "users": 2,
                     "keys_per_user": 1, "usage_days": 30, "limits": {"deadline_s": 20}},
        "upstream_direct": {"p50_ms": 55.0, "p95_ms": 56.0},
        "lookup": design(2.0, 1.0), "stored": stored, "total_seconds": 1.0,
    }  # fmt: skip


def test_report_marks_met_and_missed_targets_from_the_figures():
    verdicts = {t["target"]: t for t in targets(_figures(250.0, 9.0, 1.0))}
    assert all(t["met"] for t in verdicts.values())

    missed = {t["target"]: t for t in targets(_figures(128.0, 16.5, 2.0))}
    rps = missed["≥ 200 warm usage views/s with 32 clients"]
    assert not rps["met"] and rps["gap"] == "missed by 72.0 views/s"
    assert not missed["warm usage fragment p50 < 15 ms"]["met"]
    assert not missed["≤ 1 LiteLLM call per cold view (token stored)"]["met"]
    figures = _figures(128.0, 16.5, 2.0)
    figures["stored"]["warm"][2].update(portal_cpu_ms_per_view=10.0, client_cpu_ms_per_view=3.0,
                                        sim_cpu_ms_per_view=0.0)  # fmt: skip
    text = render(figures)
    assert "**no** — missed by 72.0 views/s" in text
    assert "could serve at most 200 views/s" in text  # 2 cores × 1000 / 10 ms
    assert "ceiling of this setup at 154 views/s" in text  # 2000 / (10 + 3)
    assert "| token stored (today) | warm | 32 |" in text
