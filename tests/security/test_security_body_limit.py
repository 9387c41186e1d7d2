"""Request bodies over MAX_CONTENT_LENGTH (64 KB) answer 413 without being read.

Werkzeug's form-memory limit covers only multipart, and only once a view reads the form; a 100 MB
POST to the sign-in form used to be read in full. Over real HTTP (gunicorn, chunked bodies too):
tests/production/test_http_limits.py.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from test_security_headers import assert_security_headers

from app.extensions import db
from app.models import User

LIMIT = 64 * 1024
TOO_MUCH = 100 * 1024 * 1024  # declared; never sent
MESSAGE = "larger than the 64 KB the portal accepts"


class CountingStream(io.RawIOBase):
    """A request body that counts what the app reads of it (an endless supply of "a")."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"a" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def _declared_body(client, method: str, path: str, length: int, content_type: str = ""):
    """Send ``method path`` announcing a ``length``-byte body; returns (response, bytes read)."""
    body = CountingStream()
    environ = {"wsgi.input": body, "CONTENT_LENGTH": str(length), "CONTENT_TYPE": content_type}
    response = client.open(path, method=method, environ_overrides=environ)
    return response, body.read_bytes


def _sign_in_token(client) -> str:
    import re

    page = client.get("/auth/sign-in").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def _users(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User))


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
@pytest.mark.parametrize("hx", [False, True], ids=["page", "fragment"])
def test_large_form_is_413_with_a_clear_message(app, client, kind, hx):
    token = _sign_in_token(client)
    data = {"csrf_token": token, "email": "mallory@example.com", "padding": "x" * (LIMIT + 1)}
    if kind == "multipart":
        data["file"] = (io.BytesIO(b"x" * 1024), "f.txt")
    response = client.post(
        "/auth/sign-in",
        data=data,
        content_type="multipart/form-data" if kind == "multipart" else None,
        headers={"HX-Request": "true"} if hx else {},
    )
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert MESSAGE in body and "nothing was changed" in body
    assert ("<html" in body) is not hx  # a page, or the error fragment for htmx
    assert_security_headers(response, kind)
    assert _users(app) == 0  # the sign-in never happened


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/json"],
)
@pytest.mark.parametrize("path", ["/auth/sign-in", "/keys", "/keys/1/revoke", "/no/such/route"])
def test_oversized_body_is_refused_before_a_byte_is_read(client, path, content_type):
    response, read = _declared_body(client, "POST", path, TOO_MUCH, content_type)
    assert response.status_code == 413, path
    assert read == 0, path


def test_json_callers_and_exports_get_a_json_413(client, sign_in, make_user):
    make_user("alice@example.com")
    sign_in("alice@example.com")
    # A GET never reads its body; the export is still refused up front, in its own format.
    for path in ("/usage/export.json", "/usage/export.csv"):
        response, read = _declared_body(client, "GET", path, LIMIT + 1)
        assert response.status_code == 413 and response.is_json, path
        assert MESSAGE in response.json["error"]
        assert read == 0
    response = client.post(
        "/keys", data=b"{" + b" " * LIMIT + b"}", content_type="application/json"
    )
    assert response.status_code == 413 and MESSAGE in response.json["error"]


def test_forms_up_to_the_limit_still_work(app, client):
    token = _sign_in_token(client)
    padding = "x" * (LIMIT - 1000)
    response = client.post(
        "/auth/sign-in", data={"csrf_token": token, "email": "a@example.com", "pad": padding}
    )
    assert response.status_code == 303
    assert _users(app) == 1
