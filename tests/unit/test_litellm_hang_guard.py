"""The hang guard: after a read timeout views wait the short time, one probe every so often
keeps the whole timeout, and only a real answer from LiteLLM ends the suspicion."""

from __future__ import annotations

from app.services.litellm.hang_guard import HangGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait(guard: HangGuard):
    return guard.wait(5, 1)


def _timed_out(guard: HangGuard) -> None:
    guard.done(_wait(guard), answered=False, timed_out=True)


def test_before_any_timeout_every_get_waits_the_whole_timeout():
    guard = HangGuard()
    assert [_wait(guard).read_timeout for _ in range(3)] == [5, 5, 5]


def test_after_a_timeout_gets_wait_briefly_and_one_probe_every_interval_waits_it_all():
    clock = Clock()
    guard = HangGuard(probe_every=10, clock=clock)
    _timed_out(guard)
    assert [_wait(guard).read_timeout for _ in range(3)] == [1, 1, 1]  # one after the other
    clock.now += 10
    probe, beside = _wait(guard), _wait(guard)
    assert (probe.read_timeout, probe.probe) == (5, True)
    assert (beside.read_timeout, beside.probe) == (1, False)
    guard.done(probe, answered=False, timed_out=True)
    clock.now += 3
    assert _wait(guard).read_timeout == 1  # the next probe waits for its interval
    clock.now += 7
    assert _wait(guard).probe


def test_a_real_answer_ends_the_suspicion_but_a_cached_one_does_not():
    guard = HangGuard()
    _timed_out(guard)
    guard.done(_wait(guard), answered=False, timed_out=False)  # served from the cache
    assert guard.suspected
    guard.done(_wait(guard), answered=True, timed_out=False)  # e.g. a 500: LiteLLM is there
    assert not guard.suspected
    assert _wait(guard).read_timeout == 5


def test_the_short_wait_never_exceeds_the_whole_timeout():
    guard = HangGuard()
    _timed_out(guard)
    assert guard.wait(0.5, 1).read_timeout == 0.5
