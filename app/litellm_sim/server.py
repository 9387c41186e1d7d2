"""Serve a simulator app over real HTTP in a daemon thread; stop and restart on the same port."""

from __future__ import annotations

import socket
import threading
from typing import Any

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer


class _TrackingServer(ThreadedWSGIServer):
    """Remembers open client sockets so shutdown() also drops keep-alive connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_sockets: set[socket.socket] = set()
        self._sock_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._sock_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._sock_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._sock_lock:
            socks = list(self.open_sockets)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SimServer:
    """Handle returned by ``run_in_thread``: ``base_url``, ``shutdown()``, ``restart()``."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _TrackingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (the real port once started with port=0)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the listening socket is open."""
        return self._server is not None

    def start(self) -> SimServer:
        """Bind (the same port again after a shutdown) and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = _TrackingServer(self.host, self.port, self.app)
        server.daemon_threads = True
        self.port = server.server_port  # fixed from now on so restart() reuses it
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"litellm-sim:{self.port}",
        )  # fmt: skip
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving and close the port (clients then get connection refused)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> SimServer:
        """Start again on the same port after ``shutdown()``."""
        self.shutdown()
        return self.start()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def run_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> SimServer:
    """Start ``app`` on ``host:port`` (0 = any free port) in a daemon thread; returns the handle."""
    return SimServer(app, host, port).start()
