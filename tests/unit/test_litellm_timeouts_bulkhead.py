"""The bulkhead's slots, re-sending after a read timeout or a dropped connection, and the
timeout/concurrency settings that reach the client."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from client_support import MASTER

from app.config import Config, ConfigError, litellm_settings
from app.services.litellm import LiteLLMClient, LiteLLMSettings, LiteLLMUnavailable
from app.services.litellm.bulkhead import WRITE_WAIT_S, Bulkhead, BulkheadFull, write_lane


def test_a_slot_is_refused_after_the_wait_when_all_are_taken():
    bulkhead = Bulkhead(2, wait=0.05)
    with bulkhead.slot(), bulkhead.slot():
        assert bulkhead.in_use == 2
        started = time.perf_counter()
        with pytest.raises(BulkheadFull, match="LITELLM_MAX_CONCURRENCY"):
            with bulkhead.slot():
                pass
        assert time.perf_counter() - started < 0.5
    assert bulkhead.in_use == 0 and bulkhead.rejected == 1
    with bulkhead.slot():  # free again
        pass


def test_a_waiting_call_gets_the_slot_that_comes_free():
    bulkhead = Bulkhead(1, wait=2)
    taken = threading.Event()

    def hold():
        with bulkhead.slot():
            taken.set()
            time.sleep(0.1)

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(2)
    with bulkhead.slot():
        assert bulkhead.in_use == 1
    thread.join()
    assert bulkhead.rejected == 0


def test_a_failing_call_gives_its_slot_back():
    bulkhead = Bulkhead(1, wait=0)
    with pytest.raises(RuntimeError):
        with bulkhead.slot():
            raise RuntimeError("upstream broke")
    with bulkhead.slot():
        assert bulkhead.in_use == 1


def _config(monkeypatch, **values) -> dict:
    """The app configuration read from these environment variables (and the defaults)."""
    values = {"LITELLM_BASE_URL": "http://proxy:4000", "LITELLM_MASTER_KEY": MASTER, **values}
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    return Config().as_mapping()


def test_views_and_maintenance_get_their_own_timeouts(monkeypatch):
    config = _config(monkeypatch, LITELLM_TIMEOUT="2.5", LITELLM_WRITE_TIMEOUT=9,
                     LITELLM_MAINTENANCE_TIMEOUT=40, LITELLM_MAX_CONCURRENCY="5",
                     LITELLM_CONCURRENCY_WAIT="0.25")  # fmt: skip
    views = LiteLLMClient(litellm_settings(config))
    maintenance = LiteLLMClient(litellm_settings(config, maintenance=True))
    try:
        assert views.settings.read_timeouts == (3.05, 2.5)
        assert views.settings.write_timeouts == (3.05, 9.0)
        assert (views.http.bulkhead.max_concurrent, views.http.bulkhead.wait) == (5, 0.25)
        assert maintenance.settings.read_timeouts == (3.05, 40.0)
    finally:
        views.close()
        maintenance.close()


def test_defaults_are_short_and_leave_half_the_threads_free(monkeypatch):
    for name in ("LITELLM_TIMEOUT", "LITELLM_MAX_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    config = Config()
    assert config.LITELLM_TIMEOUT == 5 and config.LITELLM_MAINTENANCE_TIMEOUT == 30
    assert config.LITELLM_MAX_CONCURRENCY == 16  # half of gunicorn's default 32 threads
    monkeypatch.setenv("GUNICORN_THREADS", "6")
    assert Config().LITELLM_MAX_CONCURRENCY == 3


def test_views_wait_briefly_while_litellm_hangs_but_maintenance_commands_never_do(monkeypatch):
    config = _config(monkeypatch, LITELLM_TIMEOUT_WHILE_HANGING="0.8")
    assert litellm_settings(config).read_timeout_while_hanging == 0.8
    assert litellm_settings(config, maintenance=True).read_timeout_while_hanging is None
    monkeypatch.delenv("LITELLM_TIMEOUT_WHILE_HANGING")
    assert Config().LITELLM_TIMEOUT_WHILE_HANGING == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LITELLM_MAX_CONCURRENCY", "0"),
        ("LITELLM_TIMEOUT", "0"),
        ("LITELLM_TIMEOUT_WHILE_HANGING", "0"),
        ("LITELLM_CONCURRENCY_WAIT", "-1"),
        ("LITELLM_CONNECT_TIMEOUT", "0"),
        ("LITELLM_MAX_PAGES", "0"),
        ("LITELLM_RETRIES", "-1"),
        ("LITELLM_USAGE_TTL", "-5"),
    ],
)
def test_nonsense_values_stop_start_up_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Config().validate()


class _OneShotServer:
    """A loopback HTTP server: drops the first ``drops`` connections after reading the request,
    stays silent on ``silent`` ones, then answers ``200 {"keys": []}``. Counts connections."""

    BODY = b'{"keys": [], "total_count": 0, "total_pages": 0}'

    def __init__(self, *, drops: int = 0, silent: int = 0) -> None:
        self.drops, self.silent, self.connections = drops, silent, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.recv(65536)
            if self.connections <= self.drops:
                conn.close()  # like a keep-alive connection the server had already closed
            elif self.connections <= self.drops + self.silent:
                self.held.append(conn)  # never answers
            else:
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(self.BODY)}\r\nConnection: close\r\n\r\n"
                conn.sendall(head.encode() + self.BODY)
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_view_re_sends_after_a_dropped_connection_but_not_after_a_read_timeout():
    dropped = _OneShotServer(drops=1)
    silent = _OneShotServer(silent=1)
    views = [
        LiteLLMClient(LiteLLMSettings(s.url, MASTER, backoff_factor=0, read_timeout=0.3))
        for s in (dropped, silent)
    ]
    try:
        assert views[0].list_keys("alice").pages == 1  # re-sent on a fresh connection
        assert dropped.connections == 2
        with pytest.raises(LiteLLMUnavailable, match="did not answer in time"):
            views[1].list_keys("alice")
        assert silent.connections == 1  # one wait, no second one
    finally:
        for client in views:
            client.close()
        dropped.close()
        silent.close()


def test_maintenance_commands_re_send_after_a_read_timeout(monkeypatch):
    silent = _OneShotServer(silent=1)
    config = _config(monkeypatch, LITELLM_BASE_URL=silent.url, LITELLM_MAINTENANCE_TIMEOUT=0.3,
                     LITELLM_RETRY_BACKOFF=0)  # fmt: skip
    client = LiteLLMClient(litellm_settings(config, maintenance=True))
    try:
        assert client.list_keys("alice").pages == 1
        assert silent.connections == 2
    finally:
        client.close()
        silent.close()


def test_key_changes_have_a_lane_of_their_own_with_its_own_bound():
    reads = Bulkhead(16, wait=0.05)
    writes = write_lane(reads)
    assert writes.max_concurrent == 4 and write_lane(Bulkhead(2, wait=0)).max_concurrent == 1
    assert writes.wait == WRITE_WAIT_S  # a person's key change waits a moment, not 50 ms
    writes.wait = 0.05
    with writes.slot(), writes.slot(), writes.slot(), writes.slot():
        with pytest.raises(BulkheadFull, match="key changes"):
            with writes.slot():
                pass
        with reads.slot():  # reads are not held up by writes either
            assert reads.in_use == 1
