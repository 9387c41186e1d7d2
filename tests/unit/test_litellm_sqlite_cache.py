"""The SQLite answer cache shares one connection per process between gunicorn's threads: no two
threads may use it at once (a read stepping a statement beside another thread's statement fails
with "another row available"), and invalidation must keep working beside concurrent use."""

from __future__ import annotations

import multiprocessing
import os
import threading

from app.services.litellm import build_cache_backend


def _backend(tmp_path):
    return build_cache_backend(f"sqlite:///{tmp_path / 'http_cache.sqlite'}", str(tmp_path))


def test_a_read_waits_while_another_thread_uses_the_connection(tmp_path):
    cache = _backend(tmp_path)
    cache.responses["answer"] = b"cached bytes"
    inside, release, read_done = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def hold_the_connection():
        with cache.responses.connection():
            inside.set()
            release.wait(5)

    def read():
        seen.append(cache.responses.get("answer"))
        read_done.set()

    holder = threading.Thread(target=hold_the_connection)
    holder.start()
    assert inside.wait(5)
    reader = threading.Thread(target=read)
    reader.start()
    assert not read_done.wait(0.3), "a read used the connection while another thread held it"
    release.set()
    assert read_done.wait(5)
    holder.join(5)
    reader.join(5)
    assert seen == [b"cached bytes"]
    cache.close()


def test_keys_are_read_whole_so_an_unfinished_walk_holds_nothing(tmp_path):
    cache = _backend(tmp_path)
    for n in range(3):
        cache.responses[f"k{n}"] = b"x"
    walk = iter(cache.responses)
    assert next(walk) in {"k0", "k1", "k2"}
    wrote = threading.Event()
    writer = threading.Thread(target=lambda: (cache.responses.__setitem__("k9", b"y"), wrote.set()))
    writer.start()
    assert wrote.wait(5), "a half-read key walk blocked another thread's write"
    writer.join(5)
    rest = list(walk)
    assert len(rest) == 2 and "k9" not in rest  # the walk is the snapshot it started with
    assert "k9" in set(cache.responses)
    cache.close()


def test_many_threads_read_write_and_walk_without_an_error(tmp_path):
    cache = _backend(tmp_path)
    responses = cache.responses
    for n in range(50):
        responses[f"k{n}"] = b"x" * 200
    errors: list[str] = []

    def work(worker: int) -> None:
        try:
            for step in range(150):
                if step % 3 == 0:
                    responses[f"w{worker}-{step}"] = b"y" * 200
                elif step % 3 == 1:
                    responses.get(f"k{step % 50}")
                else:
                    list(responses.keys())
        except Exception as exc:  # every failure is the finding
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(list(responses.keys())) == 50 + 8 * 50
    cache.close()


def _build_at_once(path: str, barrier, answers) -> None:
    barrier.wait()
    try:
        build_cache_backend(f"sqlite:///{path}", os.path.dirname(path)).close()
        answers.put("ok")
    except Exception as exc:  # every failure is the finding
        answers.put(repr(exc))


def test_workers_starting_together_all_open_a_new_cache_file(tmp_path):
    """gunicorn's workers open the cache file at the same moment; switching a new file to WAL
    then answered one of them "database is locked" at once (its first page was a 500)."""
    context = multiprocessing.get_context("fork")
    seen = []
    for round_ in range(25):
        path = str(tmp_path / f"round-{round_}.sqlite")
        barrier, answers = context.Barrier(4), context.Queue()
        workers = [
            context.Process(target=_build_at_once, args=(path, barrier, answers)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        seen += [answers.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(30)
    assert set(seen) == {"ok"}, [s for s in seen if s != "ok"][:3]
