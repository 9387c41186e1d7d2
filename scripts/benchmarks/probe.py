"""A liveness probe in a process of its own: GET /healthz every ``interval`` over a new
connection (as a load balancer does), one line per answer, until stopped or ``max_seconds``.

Its own process, so threads of the load generator never delay the probe's own timing.

    python -m scripts.benchmarks.probe http://127.0.0.1:8000/healthz --out probe.tsv
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Probe:
    at: float  # time.monotonic() when the answer (or failure) came
    ms: float
    status: int  # 0 = no answer within PROBE_TIMEOUT_S or connection failed


class HealthProbe:
    """Start ``python -m scripts.benchmarks.probe`` on a URL; ``stop()`` returns every probe
    it made."""

    def __init__(self, url: str, out: Path, interval_s: float = 0.05, max_s: float = 900) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.benchmarks.probe", url, "--out", str(out),
             "--interval", str(interval_s), "--max-seconds", str(max_s)],
            cwd=ROOT,
        )  # fmt: skip

    def stop(self) -> list[Probe]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=PROBE_TIMEOUT_S + 5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return read_probes(self.out)


def read_probes(path: Path) -> list[Probe]:
    probes = []
    for line in path.read_text().splitlines():
        at, ms, status = line.split("\t")
        probes.append(Probe(float(at), float(ms), int(status)))
    return probes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    stop_at = time.monotonic() + args.max_seconds
    with open(args.out, "w", buffering=1) as out:
        while not stopping and time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                # A new connection each time: the probe must not ride a kept-alive socket.
                status = requests.get(
                    args.url, timeout=PROBE_TIMEOUT_S, headers={"Connection": "close"}
                ).status_code
            except requests.RequestException:
                status = 0
            done = time.monotonic()
            out.write(f"{done:.4f}\t{(done - started) * 1000:.2f}\t{status}\n")
            time.sleep(max(0.0, args.interval - (done - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
