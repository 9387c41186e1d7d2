"""Usage-view phases against one running portal: cold and warm, page and fragment.

A *view* is ``GET /usage?key=<id>&start_date=…&end_date=…`` sent as the key's owner
(``X-Forwarded-Email``, AUTH_MODE=header). *Cold* views each ask for a (user, key, range)
nobody asked for before in this run, so every LiteLLM response cache misses; *warm* views
repeat ranges that were requested once before the phase (priming), so the portal's HTTP cache
of LiteLLM answers holds them. LiteLLM calls per view come from the simulator's call log,
reset before each phase.
"""

from __future__ import annotations

import datetime as dt
import itertools
import resource
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from scripts.benchmarks.load import RequestFactory, run_load
from scripts.benchmarks.services import Fixture, Portal, Sim, cpu_seconds

WINDOW_DAYS = 14
HX_HEADERS = {"HX-Request": "true"}


@dataclass
class PhaseLimits:
    """How many requests a phase may send, and for how long, per concurrency level."""

    max_requests: Mapping[int, int]
    deadline_s: float


@dataclass
class UsageBench:
    """Runs phases against ``portal``; counts every view sent (for the RSS figure).
    ``forget_token``, when given, is called with each key id before its view is sent."""

    portal: Portal
    sim: Sim
    fixture: Fixture
    forget_token: Callable[[int], None] | None = None
    views_sent: int = 0
    _cold: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _url(self, key_id: int, start: dt.date, end: dt.date) -> str:
        if self.forget_token is not None:
            self.forget_token(key_id)
        query = {"key": key_id, "start_date": start.isoformat(), "end_date": end.isoformat()}
        return f"{self.portal.base_url}/usage?{urlencode(query)}"

    def _user_key(self, n: int) -> tuple[str, int, int]:
        """(email, key id, round) for the n-th request: users first, then their keys."""
        users = len(self.fixture.emails)
        per_user = len(self.fixture.keys[0])
        u, rest = n % users, n // users
        email = self.fixture.emails[u]
        key_id = self.fixture.keys[u][rest % per_user][0]
        return email, key_id, rest // per_user

    def _window(self, round_: int) -> tuple[dt.date, dt.date]:
        """A range unique to ``round_``, inside the seeded data (so answers carry real days)."""
        span = (self.fixture.data_end - self.fixture.data_start).days + 1 - WINDOW_DAYS - 1
        shift, extra = round_ % span, round_ // span
        end = self.fixture.data_end - dt.timedelta(days=shift)
        return end - dt.timedelta(days=WINDOW_DAYS - 1 + extra), end

    def warm_window(self) -> tuple[dt.date, dt.date]:
        """The one range every warm view asks for (never used by a cold view: it is longer)."""
        end = self.fixture.data_end
        return end - dt.timedelta(days=WINDOW_DAYS + 6), end

    def cold_factory(self, *, hx: bool = False) -> RequestFactory:
        """Each call takes the next never-seen (user, key, range) of this portal's run."""

        def make(_n: int) -> tuple[str, Mapping[str, str]]:
            with self._lock:
                n = next(self._cold)
            email, key_id, round_ = self._user_key(n)
            start, end = self._window(round_)
            headers = {"X-Forwarded-Email": email, **(HX_HEADERS if hx else {})}
            return self._url(key_id, start, end), headers

        return make

    def warm_factory(self, *, hx: bool = False) -> RequestFactory:
        """The n-th request is (user, key) number n of the fixture, cyclically, warm range."""
        start, end = self.warm_window()
        pairs = self.fixture.all_keys

        def make(n: int) -> tuple[str, Mapping[str, str]]:
            email, key_id, _token = pairs[n % len(pairs)]
            headers = {"X-Forwarded-Email": email, **(HX_HEADERS if hx else {})}
            return self._url(key_id, start, end), headers

        return make

    def prime(self) -> dict:
        """One view of every (user, key) over the warm range, so warm phases hit the cache."""
        pairs = len(self.fixture.all_keys)
        result = run_load(self.warm_factory(), concurrency=8, max_requests=pairs, deadline_s=60)
        self.views_sent += result.sent
        if result.ok != pairs:
            raise RuntimeError(f"priming failed: {result.summary()}")
        return {"views": result.ok, "wall_s": round(result.wall_s, 2)}

    def phase(
        self, factory: RequestFactory, concurrency: int, max_requests: int, deadline_s: float
    ) -> dict:
        """One bounded load phase; its latency/throughput summary plus LiteLLM calls per view."""
        self.sim.reset_calls()
        cpu_before = self._cpu()
        result = run_load(
            factory, concurrency=concurrency, max_requests=max_requests, deadline_s=deadline_s
        )
        cpu_after = self._cpu()
        self.views_sent += result.sent
        calls = self.sim.calls_by_path()
        summary = result.summary()
        total = sum(calls.values())
        summary["litellm_calls"] = total
        summary["litellm_calls_by_path"] = calls
        summary["litellm_calls_per_view"] = round(total / result.sent, 3) if result.sent else None
        if result.sent:
            for name in cpu_before:
                used = cpu_after[name] - cpu_before[name]
                summary[f"{name}_cpu_ms_per_view"] = round(used * 1000 / result.sent, 2)
        return summary

    def _cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the gunicorn workers, the simulator and this process
        (the load generator): where a phase's CPU went, per view."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "portal": sum(cpu_seconds(pid) for pid in self.portal.worker_pids()),
            "sim": cpu_seconds(self.sim.proc.pid),
            "client": usage.ru_utime + usage.ru_stime,
        }

    def sweep(self, *, cold: bool, limits: PhaseLimits, hx: bool = False) -> list[dict]:
        """Phases at each concurrency level of ``limits`` (cold: fresh ranges every view)."""
        out = []
        for concurrency, max_requests in limits.max_requests.items():
            factory = self.cold_factory(hx=hx) if cold else self.warm_factory(hx=hx)
            out.append(self.phase(factory, concurrency, max_requests, limits.deadline_s))
        return out


def direct_upstream(sim: Sim, fixture: Fixture, requests_: int = 40) -> dict:
    """Latency of the simulator alone (one daily-activity call, sequential, never cached):
    the share of a cold view that is upstream time rather than portal time."""
    _email, _key_id, token = fixture.all_keys[0]
    headers = {"Authorization": sim.session.headers["Authorization"]}

    def make(n: int) -> tuple[str, Mapping[str, str]]:
        end = fixture.data_end - dt.timedelta(days=n % 30)
        start = end - dt.timedelta(days=WINDOW_DAYS - 1)
        query = {"start_date": start.isoformat(), "end_date": end.isoformat(), "api_key": token}
        return f"{sim.base_url}/user/daily/activity?{urlencode(query)}", headers

    result = run_load(make, concurrency=1, max_requests=requests_, deadline_s=30)
    return result.summary()
