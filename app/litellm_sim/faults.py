"""Fault injection for the simulator: errors, garbage answers, endless pages, latency, hangs,
answers held back after the action took effect."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

GARBAGE_KINDS = ("html", "truncated")


@dataclass
class Fault:
    """An injected error for routes whose path starts with ``prefix``."""

    prefix: str
    status: int
    body: Any = None
    times: int | None = None  # None = until cleared


class FaultSwitches:
    """The fault half of ``SimState`` (which provides ``lock`` and the attributes used here)."""

    lock: threading.RLock
    faults: list[Fault]
    garbage: dict[str, str]
    never_ending: set[str]
    hangs: dict[str, float]
    late_answers: dict[str, float]
    _hang_released: threading.Event
    latency_ms: int

    def set_latency(self, ms: int) -> None:
        """Delay every (non-control) response by ``ms`` milliseconds."""
        with self.lock:
            self.latency_ms = max(0, int(ms))

    def set_fault(
        self, path_prefix: str, status: int, body: Any = None, times: int | None = None
    ) -> None:
        """Answer ``status`` (LiteLLM-shaped error body unless ``body``) for matching paths.

        ``times`` limits the fault to the next N matching requests.
        """
        with self.lock:
            self.faults.append(Fault(path_prefix, int(status), body, times))

    def clear_faults(self) -> None:
        """Remove injected faults, garbage, hangs (releasing held requests) and never-ending
        pages; data and latency stay."""
        with self.lock:
            self.faults.clear()
            self.garbage.clear()
            self.never_ending.clear()
            self._release_hangs()

    def take_fault(self, path: str) -> Fault | None:
        """The first fault matching ``path``, consuming one of its ``times``."""
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.prefix):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def set_garbage(self, path_prefix: str, kind: str) -> None:
        """Answer 200 with an HTML page (``html``) or cut-off JSON (``truncated``)."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"kind must be one of {GARBAGE_KINDS}")
        with self.lock:
            self.garbage[path_prefix] = kind

    def garbage_for(self, path: str) -> str | None:
        """Garbage kind configured for ``path`` (longest matching prefix), if any."""
        with self.lock:
            hits = [p for p in self.garbage if path.startswith(p)]
            return self.garbage[max(hits, key=len)] if hits else None

    def set_never_ending_pages(self, path_prefix: str, enabled: bool = True) -> None:
        """Paginated responses on matching paths always claim more pages."""
        with self.lock:
            (self.never_ending.add if enabled else self.never_ending.discard)(path_prefix)

    def never_ending_for(self, path: str) -> bool:
        """Whether never-ending pagination is switched on for ``path``."""
        with self.lock:
            return any(path.startswith(p) for p in self.never_ending)

    def set_hang(self, path_prefix: str, seconds: float) -> None:
        """Hold matching requests up to ``seconds`` (or until faults are cleared), then answer
        them normally: an upstream that stops answering for a while."""
        with self.lock:
            self.hangs[path_prefix] = max(0.0, float(seconds))

    def hang_for(self, path: str) -> float:
        """Seconds to hold a request on ``path`` (longest matching prefix), 0 when none."""
        with self.lock:
            hits = [p for p in self.hangs if path.startswith(p)]
            return self.hangs[max(hits, key=len)] if hits else 0.0

    def wait_hang(self, path: str) -> None:
        """Hold the calling request as configured for ``path``; returns early on a clear."""
        seconds = self.hang_for(path)
        if seconds:
            with self.lock:
                released = self._hang_released
            released.wait(seconds)

    def set_late_answer(self, path_prefix: str, seconds: float) -> None:
        """Do what matching requests ask, then hold the answer ``seconds``: a timeout after the
        action took effect (the caller gives up, the key exists or is gone all the same)."""
        with self.lock:
            self.late_answers[path_prefix] = max(0.0, float(seconds))

    def wait_late_answer(self, path: str) -> None:
        """Hold a finished request's answer as configured for ``path``; early on a clear."""
        with self.lock:
            hits = [p for p in self.late_answers if path.startswith(p)]
            seconds = self.late_answers[max(hits, key=len)] if hits else 0.0
            released = self._hang_released
        if seconds:
            released.wait(seconds)

    def _release_hangs(self) -> None:
        """Forget the hangs and let every held request go (a new event for later hangs)."""
        with self.lock:
            self.hangs = {}
            self.late_answers = {}
            previous = getattr(self, "_hang_released", None)
            if previous is not None:
                previous.set()
            self._hang_released = threading.Event()
