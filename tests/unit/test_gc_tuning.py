"""The garbage collector stays out of a cold usage view's way: gunicorn workers freeze what
they loaded, and no collection runs while a big LiteLLM answer is decoded and read."""

from __future__ import annotations

import gc
import runpy
import threading
from pathlib import Path

import pytest
from client_support import BASE

from app.services.litellm import LiteLLMBadResponse
from app.services.litellm.gc_pause import BIG_ANSWER_BYTES, collections_paused
from app.services.litellm.parsing import ShapeError

ROOT = Path(__file__).resolve().parents[2]
PAGED = f"{BASE}/user/daily/activity"


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_gunicorn_worker_freezes_what_it_loaded():
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        hooks["post_worker_init"](object())
        assert gc.get_freeze_count() > 1000  # the modules and the app loaded so far
    finally:
        gc.unfreeze()


def test_no_collection_while_a_big_answer_is_decoded_and_read(client, rsps, collector_on):
    padding = "x" * BIG_ANSWER_BYTES  # a field nobody reads, as LiteLLM's breakdowns
    rsps.get(PAGED, json={"results": [], "metadata": {"total_pages": 1}, "extra": padding})
    rsps.get(PAGED, json={"results": {"oops": 1}, "extra": padding})
    rsps.get(PAGED, json={"results": [], "metadata": {"total_pages": 1}})
    seen = []

    def parse(body):
        seen.append(gc.isenabled())
        if not isinstance(body["results"], list):
            raise ShapeError("expected an object with a 'results' list")
        return body

    client.http.get("/user/daily/activity", {}, parse=parse)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(LiteLLMBadResponse):
        client.http.get("/user/daily/activity", {}, parse=parse)
    assert seen == [False, False] and gc.isenabled()  # resumed after a bad answer too
    client.http.get("/user/daily/activity", {}, parse=parse)
    assert seen == [False, False, True]  # a small answer pauses nothing


def test_collections_resume_when_the_last_reader_is_done(collector_on):
    inside, leave = threading.Event(), threading.Event()

    def slow_reader():
        with collections_paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=slow_reader)
    thread.start()
    assert inside.wait(5)
    with collections_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the slow reader is still reading
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_switched_off_stays_off(collector_on):
    gc.disable()
    with collections_paused():
        pass
    assert not gc.isenabled()
