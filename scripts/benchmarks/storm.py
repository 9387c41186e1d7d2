"""Many users at the same moment while LiteLLM misbehaves: the scenario behind the concurrency
and fault test and the soak.

One round: every user signs in, creates a key and views usage at the same moment; then, fault by
fault (added latency, 500s, 200 with an HTML page, 200 with cut JSON, a hang), every user
creates a key, opens the key list, views, refreshes and exports usage while the fault lasts,
and once it ends checks that the very next request of each kind works again; last, every user
fires parallel key creations and refreshes past the rate limits. A /healthz probe runs in a
process of its own throughout.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.benchmarks.probe import HealthProbe, Probe
from scripts.benchmarks.services import Sim
from scripts.benchmarks.traffic import (
    PortalUser,
    Recorder,
    export_state,
    keys_state,
    together,
    usage_state,
)

# Settings the portal runs with, so the burst meets the limits within one run.
KEY_CREATE_LIMIT = 6  # per hour
REFRESH_LIMIT = 8  # per hour
BURST_CREATES = 4
BURST_REFRESHES = 5
PHASE_DEADLINE_S = 90.0
_USAGE_ROUTES = ("/user/daily/activity", "/key/list", "/key/info")
UPSTREAM_LATENCY_MS = 400  # the latency fault: the least a request that waits on LiteLLM takes


@dataclass(frozen=True)
class Fault:
    """One LiteLLM fault: its switches, the usage range length the users view while it lasts
    (a range of its own, so the portal's cache has no answer for it yet), whether users try to
    create keys during it, and for a hang how long it lasts with requests in flight."""

    name: str
    days: int
    switches: tuple[dict, ...]
    create: bool = False
    hold_s: float = 0.0


def _each(spec_for) -> tuple[dict, ...]:
    return tuple(spec_for(path) for path in _USAGE_ROUTES)


FAULTS = (
    Fault("latency", 3, ({"latency_ms": UPSTREAM_LATENCY_MS},), create=True),
    Fault(
        "500s",
        4,
        _each(lambda p: {"fault": {"path": p, "status": 500}})
        + ({"fault": {"path": "/key/generate", "status": 500}},),
        create=True,
    ),
    Fault("html", 5, _each(lambda p: {"garbage": {"path": p, "kind": "html"}})),
    Fault("cut-json", 6, _each(lambda p: {"garbage": {"path": p, "kind": "truncated"}})),
    Fault("hang", 7, _each(lambda p: {"hang": {"path": p, "seconds": 60}}), hold_s=6.0),
)


@dataclass
class StormResult:
    recorder: Recorder
    emails: list[str]
    # Checks that failed: (phase, user, what was checked, what was seen).
    failed_checks: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Problems of the harness itself (a user thread that crashed or overran its deadline).
    harness_failures: list[str] = field(default_factory=list)
    # Each phase's time intervals (a soak repeats phases).
    windows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)
    wall_s: float = 0.0

    def probes_during(self, phase: str) -> list[Probe]:
        spans = self.windows.get(phase, [])
        return [p for p in self.probes if any(start <= p.at <= end for start, end in spans)]


def marker(email: str) -> str:
    """The model name of a user's usage rows: seeing it proves the page shows their data."""
    return "model-" + email.split("@")[0]


class Storm:
    def __init__(self, base_url: str, sim: Sim, users: int, workdir: Path, prefix: str = "u"):
        self.sim = sim
        self.workdir = workdir
        self.recorder = Recorder()
        emails = [f"{prefix}{n:02d}@example.com" for n in range(users)]
        self.users = [PortalUser(base_url, email, self.recorder) for email in emails]
        self.result = StormResult(self.recorder, emails)
        self.base_url = base_url
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------
    def _phase(self, name: str, action, items=None) -> None:
        self.recorder.phase = name
        start = time.monotonic()
        failures = together(items or self.users, action, deadline_s=PHASE_DEADLINE_S)
        self.result.harness_failures += [f"{name}: {f}" for f in failures]
        self.result.windows.setdefault(name, []).append((start, time.monotonic()))

    def _check(self, phase: str, user: PortalUser, what: str, seen: str, want: str) -> None:
        if seen != want:
            with self._lock:
                self.result.failed_checks.append((phase, user.email, what, seen))

    # -- the round --------------------------------------------------------------------------
    def run(self, rounds: int = 1, *, deadline_s: float = 600, burst: bool = True) -> StormResult:
        """``rounds`` rounds, bounded by ``deadline_s`` (the soak runs several: later rounds
        create no keys); ``burst`` ends the first round with the burst past the limits."""
        started = time.monotonic()
        probe = HealthProbe(f"{self.base_url}/healthz", self.workdir / "healthz.tsv")
        try:
            self._sign_in_and_first_key()
            for n in range(rounds):
                for fault in FAULTS:
                    if time.monotonic() - started > deadline_s:
                        return self.result
                    self._fault(fault, create=fault.create and n == 0)
                if n == 0 and burst:
                    self._burst()
        finally:
            self.sim.clear_faults()
            self.sim.set_latency(0)
            self.result.probes = probe.stop()
            self.result.wall_s = time.monotonic() - started
        return self.result

    def _sign_in_and_first_key(self) -> None:
        """Everyone signs in, then creates a key, at the same moment. A user whose attempt
        failed (checked) tries again a few times, so one failure does not hide later ones."""

        def sign_in(user: PortalUser) -> None:
            seen = str(user.sign_in().status)
            self._check("sign-in", user, "sign-in", seen, "303")
            if seen != "303":
                _retry(lambda: user.sign_in().status == 303)

        def first_key(user: PortalUser) -> None:
            seen = str(user.create_key("first").status)
            self._check("first key", user, "create key", seen, "201")
            if seen != "201":
                _retry(lambda: user.create_key("first").status in (201, 400))

        self._phase("sign-in", sign_in)
        self._phase("first key", first_key)
        self._seed_usage()

        def view(user: PortalUser) -> None:
            seen = usage_state(user.usage(2), marker(user.email))
            self._check("first key", user, "usage view", seen, "data")

        self._phase("first key", view)

    def _seed_usage(self) -> None:
        """Usage rows today for every key LiteLLM has for our users, one model per user."""
        today = time.strftime("%Y-%m-%d", time.gmtime())
        emails = set(self.result.emails)
        rows = [
            {"token": key["token"], "date": today, "model": marker(key["user_id"]),
             "provider": "openai", "prompt_tokens": 100, "completion_tokens": 20, "spend": 0.25}
            for key in self.sim.keys()["live"] if key["user_id"] in emails
        ]  # fmt: skip
        if rows:
            self.sim.add_usage(rows)

    def _fault(self, fault: Fault, *, create: bool) -> None:
        for switch in fault.switches:
            self.sim.faults(switch)
        timer = threading.Timer(fault.hold_s, self._end_fault) if fault.hold_s else None

        def during(user: PortalUser) -> None:
            if create:
                user.create_key(f"during-{fault.name}")
            user.keys_page()
            user.usage(fault.days)
            user.usage(fault.days, refresh=True)
            user.export_json(fault.days)

        if timer:
            timer.start()
        try:
            self._phase(fault.name, during)
        finally:
            if timer:
                timer.join()  # the fault lasts its whole time, however fast the users were
                start, _ = self.result.windows[fault.name][-1]
                self.result.windows[fault.name][-1] = (start, time.monotonic())
        self._end_fault()
        phase = f"after {fault.name}"

        def recovered(user: PortalUser) -> None:
            self._check(phase, user, "keys page", keys_state(user.keys_page()), "ok")
            seen = usage_state(user.usage(fault.days), marker(user.email))
            self._check(phase, user, "usage view", seen, "data")
            self._check(phase, user, "export", export_state(user.export_json(fault.days)), "ok")
            if create:
                seen = str(user.create_key(f"after-{fault.name}").status)
                self._check(phase, user, "create key", seen, "201")

        self._phase(phase, recovered)

    def _end_fault(self) -> None:
        self.sim.clear_faults()
        self.sim.set_latency(0)

    def _burst(self) -> None:
        """Every user: parallel creations and refreshes, more than the limits allow."""

        def burst(user: PortalUser) -> None:
            forms = [user.create_form() for _ in range(BURST_CREATES)]
            actions = [lambda f=f, i=i: user.create_key(f"burst-{i}", f)
                       for i, f in enumerate(forms)]  # fmt: skip
            actions += [lambda: user.usage(2, refresh=True)] * BURST_REFRESHES
            failures = together(actions, lambda act: act(), deadline_s=PHASE_DEADLINE_S)
            self.result.harness_failures += [f"burst {user.email}: {f}" for f in failures]

        self._phase("burst", burst)


def _retry(attempt, tries: int = 4) -> None:
    """Call ``attempt`` until it returns True, at most ``tries`` times, backing off a little."""
    for n in range(tries):
        if attempt():
            return
        time.sleep(0.2 * (n + 1))
