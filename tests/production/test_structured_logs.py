"""Structured logs: one JSON line per request and one per LiteLLM call, secrets redacted.

The lines are captured from the portal's own handler (JsonFormatter + RedactingFilter, attached
by app/logs.py), so the test sees exactly what production writes to stderr.
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey

MASTER_KEY = "sk-sim-master-0123456789"
SECRET_RE = re.compile(r"sk-[A-Za-z0-9_-]{20,}")


@pytest.fixture
def log_lines(app):
    """``log_lines()`` → the JSON objects the portal's handler wrote during the test."""
    handler = next(h for h in logging.getLogger("app").handlers if getattr(h, "_portal_handler", 0))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)

    def lines() -> list[dict]:
        raw = [line for line in buffer.getvalue().splitlines() if line.strip()]
        return [json.loads(line) for line in raw]  # every line must be JSON

    yield lines
    handler.setStream(previous)


def _create_key(client, label: str) -> str:
    page = client.get("/keys").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    token = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/keys", data={"name": label, "idempotency_token": token, "csrf_token": csrf}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    secrets_shown = SECRET_RE.findall(response.get_data(as_text=True))
    assert len(set(secrets_shown)) == 1, secrets_shown
    return secrets_shown[0]


def test_request_and_litellm_lines_have_their_fields_and_no_secrets(
    app, client, sign_in, sim, log_lines
):
    sign_in("alice@example.com")
    secret = _create_key(client, "laptop")
    assert sim.find_key(secret) is not None  # the real secret, as LiteLLM knows it
    with app.app_context():
        key = db.session.scalar(sa.select(ApiKey).where(ApiKey.label == "laptop"))
        key_id, user_id = key.id, key.user_id
    assert client.get(f"/usage?key={key_id}").status_code == 200
    assert client.get(f"/usage?key={key_id}").status_code == 200
    assert client.get("/usage?key=not-a-number").status_code == 400

    lines = log_lines()
    requests_ = [line for line in lines if line["logger"] == "app.request"]
    calls = [line for line in lines if line["logger"] == "app.litellm"]

    by_path = {(r["method"], r["path"], r["status"]) for r in requests_}
    assert ("POST", "/keys", 201) in by_path
    assert ("GET", "/usage", 200) in by_path and ("GET", "/usage", 400) in by_path
    for line in requests_:
        assert {"ts", "level", "method", "path", "status", "duration_ms", "user_id"} <= set(line)
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    signed_in = [r for r in requests_ if r["path"] in ("/keys", "/usage")]
    assert signed_in and all(r["user_id"] == user_id for r in signed_in)

    routes = [(c["route"], c["cache_hit"]) for c in calls]
    assert ("/key/generate", False) in routes
    usage_calls = [c for c in calls if c["route"].startswith("/user/daily/activity")]
    # The keys list's lifetime figures come first; then the two /usage views, the second cached.
    assert [c["cache_hit"] for c in usage_calls][-2:] == [False, True]
    for line in calls:
        assert {"route", "method", "status", "duration_ms", "cache_hit", "stale"} <= set(line)
        assert line["status"] == 200

    text = "\n".join(json.dumps(line) for line in lines)
    assert secret not in text
    assert MASTER_KEY not in text


def test_exception_tracebacks_are_redacted_too(app, log_lines):
    """A traceback whose message holds a secret is printed redacted, not re-rendered raw."""
    try:
        raise RuntimeError(f"upstream said: Authorization Bearer {MASTER_KEY}")
    except RuntimeError:
        logging.getLogger("app.test").exception("call failed")
    (line,) = log_lines()
    assert "RuntimeError" in line["exc"] and "Traceback" in line["exc"]
    assert MASTER_KEY not in json.dumps(line)


def test_litellm_failure_lines_say_no_answer_without_the_master_key(
    app, client, sign_in, make_user, make_key, sim_server, log_lines
):
    make_key(make_user("bob@example.com"), "laptop")
    sign_in("bob@example.com")
    sim_server.shutdown()
    try:
        assert client.get("/usage").status_code == 200  # error panel, not a 500
    finally:
        sim_server.restart()
    lines = log_lines()
    assert MASTER_KEY not in json.dumps(lines)
    requests_ = [line for line in lines if line["logger"] == "app.request"]
    assert [r["status"] for r in requests_ if r["path"] == "/usage"] == [200]
    failed = [c for c in lines if c["logger"] == "app.litellm"]
    assert failed and all(c["level"] == "WARNING" and c["status"] is None for c in failed)
    assert all(c["route"].startswith("/user/daily/activity") for c in failed)
