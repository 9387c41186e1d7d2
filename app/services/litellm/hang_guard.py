"""Views stop waiting the whole read timeout on a LiteLLM that hangs.

Without this, every page that needs LiteLLM waits ``LITELLM_TIMEOUT`` (5 s) for as long as
LiteLLM hangs, one page after another, each ending with the same error panel. Once a GET has
timed out, LiteLLM is *suspected* of hanging: GETs then wait ``LITELLM_TIMEOUT_WHILE_HANGING``
(1 s), except one GET every ``probe_every`` seconds per process, the probe, which keeps the
whole timeout, so a LiteLLM that is merely slow is found again. A LiteLLM that stopped hanging
answers within the short wait anyway. Any real answer from LiteLLM (an error status included)
ends the suspicion; answers from the cache say nothing about LiteLLM and change nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HangGuard", "Wait"]


@dataclass(frozen=True)
class Wait:
    """How long one GET may wait for its answer, and whether it is the probe."""

    read_timeout: float
    probe: bool = False


class HangGuard:
    """Per-process memory of whether LiteLLM's last GET timed out."""

    def __init__(self, probe_every: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.probe_every = probe_every
        self.suspected = False
        self._clock = clock
        self._probe_out = False
        self._last_probe = 0.0
        self._lock = threading.Lock()

    def wait(self, read_timeout: float, while_hanging: float) -> Wait:
        """The wait for the GET about to be sent: ``read_timeout`` unless LiteLLM is suspected
        of hanging, then ``while_hanging`` (never longer) except for the probe."""
        with self._lock:
            if not self.suspected:
                return Wait(read_timeout)
            now = self._clock()
            if not self._probe_out and now - self._last_probe >= self.probe_every:
                self._probe_out, self._last_probe = True, now
                return Wait(read_timeout, probe=True)
            return Wait(min(while_hanging, read_timeout))

    def done(self, wait: Wait, *, answered: bool, timed_out: bool) -> None:
        """Record how the GET sent with ``wait`` ended: LiteLLM ``answered`` (not from the
        cache), the read ``timed_out``, or neither (refused connection, full bulkhead)."""
        with self._lock:
            if wait.probe:
                self._probe_out = False
            if answered:
                self.suspected = False
            elif timed_out and not self.suspected:
                # The GET that just waited the whole timeout counts as the first probe.
                self.suspected, self._last_probe = True, self._clock()
