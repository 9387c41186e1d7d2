"""Over real HTTP, against gunicorn as scripts/serve runs it: bodies over the 64 KB limit are
refused (413) without being read, whether announced by Content-Length or sent in chunks; and
production refuses to start header sign-in without TRUSTED_PROXY_IPS."""

from __future__ import annotations

import select
import socket
import subprocess
import time

import pytest
from prod_support import ROOT, SERVE, free_port, production_env, start_instance

LIMIT = 64 * 1024
CHUNK = 16 * 1024
GIVE_UP = 32 * 1024 * 1024  # a server that reads everything never answers before this


@pytest.fixture(scope="module")
def portal(tmp_path_factory, sim_server):
    tmp = tmp_path_factory.mktemp("limits")
    env = production_env(
        DATABASE_URL=f"sqlite:///{tmp / 'portal.sqlite'}",
        LITELLM_BASE_URL=sim_server.base_url,
        HTTP_CACHE_URL="memory",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
    )
    instance = start_instance("limits", env, tmp)
    try:
        instance.wait_ready()
        yield instance
    finally:
        instance.stop()


def _form_head(kind: str, length: int | None) -> tuple[bytes, bytes]:
    """Request head for a POST /keys (as a signed-in user) and the body's repeating unit."""
    if kind == "multipart":
        content_type = "multipart/form-data; boundary=xyz"
        opening = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
    else:
        content_type = "application/x-www-form-urlencoded"
        opening = b"name=laptop&padding="
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    head = (
        "POST /keys HTTP/1.1\r\nHost: portal\r\nX-Forwarded-Email: alice@example.com\r\n"
        f"Content-Type: {content_type}\r\n{framing}\r\n\r\n"
    ).encode()
    return head, opening


def _send_until_answered(port: int, head: bytes, pieces) -> tuple[bytes, int, float]:
    """Send ``head`` then ``pieces`` until the server answers; (status line, bytes sent, s)."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for piece in pieces:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is there: stop sending
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(piece)
        ready = select.select([sock], [], [], 10)[0]
        answer = sock.recv(4096) if ready else b""
    return answer.split(b"\r\n", 1)[0], sent, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_announced_oversized_body_is_refused_before_it_is_sent(portal, kind):
    """Content-Length says 100 MB; the client sends 1 KB and the 413 comes back at once."""
    head, opening = _form_head(kind, 100 * 1024 * 1024)
    status, sent, seconds = _send_until_answered(portal.port, head, [opening + b"x" * 1024])
    assert status.startswith(b"HTTP/1.1 413"), status
    assert seconds < 5


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_chunked_body_is_cut_off_after_the_limit(portal, kind):
    """No Content-Length: the body is read up to the limit, then refused; the client is told
    long before it could have sent 32 MB (kernel buffers take some of what it sends)."""
    head, opening = _form_head(kind, None)

    def chunks():
        first = opening + b"x" * (CHUNK - len(opening))
        yield b"%x\r\n%s\r\n" % (len(first), first)
        for _ in range(GIVE_UP // CHUNK):
            yield b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)

    status, sent, seconds = _send_until_answered(portal.port, head, chunks())
    assert status.startswith(b"HTTP/1.1 413"), status
    assert LIMIT < sent < GIVE_UP, sent


@pytest.mark.slow
def test_production_headers_over_http(portal):
    import requests

    response = requests.get(
        portal.base_url + "/keys", headers={"X-Forwarded-Email": "alice@example.com"}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "private" in response.headers["Cache-Control"]


def test_serve_refuses_header_sign_in_without_trusted_proxies(tmp_path, sim_server):
    env = production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite'}",
        LITELLM_BASE_URL=sim_server.base_url,
        HTTP_CACHE_URL="memory",
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",  # should it start after all
    )
    del env["TRUSTED_PROXY_IPS"]
    result = subprocess.run(
        ["bash", str(SERVE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXY_IPS is required with AUTH_MODE=header in production" in result.stderr
