"""Portal users over real HTTP, a record of every answer, and users acting at the same moment.

Shared by the concurrency and fault test (tests/production/test_load_faults.py) and the soak
(bench/soak.py). Every request has a client timeout and every group of users a deadline, so a
stuck portal fails a run instead of hanging it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import requests

from scripts.benchmarks.load import percentile

CLIENT_TIMEOUT_S = 30.0
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
_IDEMPOTENCY = re.compile(r'name="idempotency_token" value="([^"]+)"')
REFRESH_REFUSED = "You refreshed very often"
REFRESH_ROUTE = "GET /usage?refresh=1"


@dataclass(frozen=True)
class Hit:
    """One answer (or a client-side failure, ``status`` 0) as a user saw it."""

    phase: str
    route: str
    status: int
    seconds: float
    at: float  # time.monotonic() when it finished
    email: str
    error: str = ""
    # Usage pages: "refused" (cached data: over the refresh limit), "error" (LiteLLM error
    # panel), "stale" (older data with the banner), "" otherwise.
    note: str = ""


class Recorder:
    """Every hit of a run, thread-safe; ``phase`` is what the users are doing right now."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.phase = "start"
        self._lock = threading.Lock()

    def add(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def unexpected(self, allowed: set[int]) -> Counter:
        """(phase, route, status or error) → count, for every answer outside ``allowed``."""
        return Counter(
            (h.phase, h.route, h.status or h.error)
            for h in self.snapshot()
            if h.status not in allowed
        )

    def route_figures(self, wall_s: float) -> dict[str, dict]:
        """Per route: requests, requests/s, p50/p95/p99/max latency (ms), statuses."""
        by_route: dict[str, list[Hit]] = defaultdict(list)
        for hit in self.snapshot():
            by_route[hit.route].append(hit)
        out = {}
        for route, hits in sorted(by_route.items()):
            ms = [h.seconds * 1000 for h in hits]
            out[route] = {
                "requests": len(hits),
                "rps": round(len(hits) / wall_s, 2) if wall_s > 0 else 0.0,
                "p50_ms": round(percentile(ms, 50), 1),
                "p95_ms": round(percentile(ms, 95), 1),
                "p99_ms": round(percentile(ms, 99), 1),
                "max_ms": round(max(ms), 1),
                "statuses": dict(sorted(Counter(str(h.status or h.error) for h in hits).items())),
            }
        return out


@dataclass
class Answer:
    status: int
    text: str


@dataclass
class PortalUser:
    """One person with a browser-like session (cookies kept) signing in with ``AUTH_MODE=dev``."""

    base_url: str
    email: str
    recorder: Recorder
    session: requests.Session = field(default_factory=lambda: _session())

    def request(self, method: str, route: str, path: str, **kwargs) -> Answer:
        """Send, time and record one request; a client-side failure records status 0."""
        started = time.monotonic()
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=CLIENT_TIMEOUT_S, allow_redirects=False,
                **kwargs,
            )  # fmt: skip
            answer = Answer(response.status_code, response.text)
            error = ""
        except requests.RequestException as exc:
            answer, error = Answer(0, ""), type(exc).__name__
        now = time.monotonic()
        self.recorder.add(Hit(self.recorder.phase, route, answer.status, now - started, now,
                              self.email, error, _note(answer)))  # fmt: skip
        return answer

    def _csrf(self, html: str) -> str:
        match = _CSRF.search(html)
        return match.group(1) if match else ""

    def sign_in(self) -> Answer:
        page = self.request("GET", "GET /auth/sign-in", "/auth/sign-in")
        return self.request(
            "POST", "POST /auth/sign-in", "/auth/sign-in",
            data={"email": self.email, "csrf_token": self._csrf(page.text)},
        )  # fmt: skip

    def keys_page(self) -> Answer:
        return self.request("GET", "GET /keys", "/keys")

    def create_form(self) -> tuple[str, str]:
        """(csrf token, a fresh idempotency token) from the keys page; empty when it failed."""
        page = self.keys_page()
        token = _IDEMPOTENCY.search(page.text)
        return self._csrf(page.text), token.group(1) if token else ""

    def create_key(self, label: str, form: tuple[str, str] | None = None) -> Answer:
        csrf, idempotency = form or self.create_form()
        return self.request(
            "POST", "POST /keys", "/keys",
            data={"name": label, "idempotency_token": idempotency, "csrf_token": csrf},
        )  # fmt: skip

    def usage(self, days: int, *, refresh: bool = False) -> Answer:
        """The all-keys usage page for the last ``days`` UTC days (a custom range)."""
        params = custom_range(days)
        if refresh:
            params["refresh"] = "1"
        route = REFRESH_ROUTE if refresh else "GET /usage"
        return self.request("GET", route, "/usage", params=params)

    def export_json(self, days: int) -> Answer:
        return self.request("GET", "GET /usage/export.json", "/usage/export.json",
                            params=custom_range(days))  # fmt: skip


def _note(answer: Answer) -> str:
    if REFRESH_REFUSED in answer.text:
        return "refused"
    if 'id="usage-api-error"' in answer.text:
        return "error"
    return "stale" if 'id="usage-stale"' in answer.text else ""


def _session() -> requests.Session:
    """A session whose pool holds a user's parallel requests (the burst) without discarding."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
    session.mount("http://", adapter)
    return session


def custom_range(days: int) -> dict[str, str]:
    """Query parameters for the ``days`` UTC days ending today: one cache entry per length."""
    today = time.gmtime()
    end = f"{today.tm_year:04d}-{today.tm_mon:02d}-{today.tm_mday:02d}"
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400 * (days - 1)))
    return {"preset": "custom", "start_date": start, "end_date": end}


def usage_state(answer: Answer, marker: str) -> str:
    """What a usage page showed: ``data`` (the user's own ``marker`` present), ``error`` (the
    LiteLLM error panel), ``stale`` (cached data with the banner), or ``other``."""
    if answer.status != 200:
        return f"status {answer.status}"
    if 'id="usage-api-error"' in answer.text:
        return "error"
    if 'id="usage-stale"' in answer.text:
        return "stale"
    return "data" if marker in answer.text else "other"


def keys_state(answer: Answer) -> str:
    """``ok``, ``error`` (the list's LiteLLM error panel), ``stale`` or the status."""
    if answer.status != 200:
        return f"status {answer.status}"
    if 'id="key-list-error"' in answer.text:
        return "error"
    if "LiteLLM is not answering" in answer.text:
        return "stale"
    return "ok"


def export_state(answer: Answer) -> str:
    """``ok`` (strict JSON, not stale), ``stale``, ``not JSON`` or the status."""
    if answer.status != 200:
        return f"status {answer.status}"
    try:
        body = json.loads(answer.text, parse_constant=_reject_constant)
    except ValueError:
        return "not JSON"
    return "stale" if isinstance(body, dict) and body.get("stale") else "ok"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def together(
    items: Sequence, action: Callable[[object], object], *, deadline_s: float
) -> list[str]:
    """Run ``action(item)`` for every item in its own thread, all released at the same moment;
    returns the failures (exceptions, or threads still running at the deadline)."""
    gate = threading.Barrier(len(items))
    failures: list[str] = []
    lock = threading.Lock()

    def run(item) -> None:
        try:
            gate.wait(timeout=30)
            action(item)
        except Exception as exc:  # noqa: BLE001 - reported, the run goes on
            with lock:
                failures.append(f"{_name(item)}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    stop_at = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(timeout=max(0.0, stop_at - time.monotonic()))
    failures += [f"{_name(items[i])}: still running after {deadline_s} s"
                 for i, t in enumerate(threads) if t.is_alive()]  # fmt: skip
    return failures


def _name(item: object) -> str:
    return getattr(item, "email", None) or repr(item)
