"""/healthz says the process is up; /readyz says whether it can serve (database and LiteLLM),
as JSON naming the part that failed, without secrets or stack traces."""

from __future__ import annotations

import json
import socket
import time

import pytest

from app.services import litellm_client
from app.services.litellm import LiteLLMUnavailable

DB_PASSWORD = "pg-secret-pw-4711"
BAD_DATABASES = {
    "sqlite-missing-dir": "sqlite:////nonexistent-portal-dir/nowhere/portal.sqlite",
    "postgres-closed-port": f"postgresql+psycopg://portal:{DB_PASSWORD}@127.0.0.1:{{port}}/portal",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def _body(response) -> dict:
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "sk-sim-master", DB_PASSWORD, 'File "'):
        assert leak not in text
    return json.loads(text)


def test_healthz_answers_without_touching_dependencies(make_config, build_app):
    config = make_config(
        SQLALCHEMY_DATABASE_URI=BAD_DATABASES["sqlite-missing-dir"],
        LITELLM_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
    )
    response = build_app(config).test_client().get("/healthz")
    assert response.status_code == 200
    assert _body(response) == {"status": "ok"}


def test_readyz_ready_when_database_and_litellm_answer(client, sim):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _body(response) == {
        "status": "ready",
        "checks": {"database": "ok", "litellm": "ok"},
    }
    assert sim.count("/health/liveliness") == 1


@pytest.mark.parametrize("which", sorted(BAD_DATABASES))
def test_readyz_names_the_database_when_it_is_down(make_config, build_app, sim, which):
    url = BAD_DATABASES[which].format(port=_closed_port())
    response = build_app(make_config(SQLALCHEMY_DATABASE_URI=url)).test_client().get("/readyz")
    assert response.status_code == 503
    body = _body(response)
    assert body["status"] == "not ready"
    assert body["checks"]["litellm"] == "ok"
    assert body["checks"]["database"].startswith("failed: ")
    assert "OperationalError" in body["checks"]["database"]
    assert "nonexistent-portal-dir" not in json.dumps(body)


def test_readyz_names_litellm_when_the_simulator_stops(client, sim_server, sim):
    sim_server.shutdown()
    try:
        response = client.get("/readyz")
    finally:
        sim_server.restart()
    assert response.status_code == 503
    body = _body(response)
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["litellm"].startswith("failed")
    # Back up: ready again, the failure was not cached.
    assert client.get("/readyz").status_code == 200


def test_readyz_names_litellm_on_a_closed_port(make_config, build_app, app):
    config = make_config(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        LITELLM_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
    )
    other = build_app(config, schema=True)
    response = other.test_client().get("/readyz")
    assert response.status_code == 503
    assert _body(response)["checks"] == {"database": "ok", "litellm": "failed: not alive"}


def test_readyz_names_both_when_both_are_down(make_config, build_app):
    config = make_config(
        SQLALCHEMY_DATABASE_URI=BAD_DATABASES["postgres-closed-port"].format(port=_closed_port()),
        LITELLM_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
    )
    response = build_app(config).test_client().get("/readyz")
    assert response.status_code == 503
    checks = _body(response)["checks"]
    assert checks["database"].startswith("failed: ") and checks["litellm"].startswith("failed")


def test_readyz_answers_within_its_budget_when_litellm_hangs(client, sim):
    sim.set_latency(3000)  # longer than the probe's 2 s read timeout
    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert _body(response)["checks"] == {"database": "ok", "litellm": "failed: not alive"}
    # One try of at most ~2 s; the old 5 s read timeout (plus a retry) answered "ok" or took 10 s.
    assert elapsed < 4, f"/readyz took {elapsed:.1f} s"
    assert sim.count("/health/liveliness") == 1


def test_health_probe_is_never_retried_while_normal_gets_still_are(app, sim):
    sim.set_fault("/health/liveliness", 503)
    sim.set_fault("/key/list", 503)
    with app.app_context():
        client = litellm_client()
        assert client.health() is False
        assert sim.count("/health/liveliness") == 1
        with pytest.raises(LiteLLMUnavailable):
            client.list_keys("alice@example.com", force_refresh=True)
    assert sim.count("/key/list") == 1 + app.config["LITELLM_RETRIES"]


def test_postgres_connections_carry_the_connect_timeout(make_config, build_app, postgres_url):
    from app.extensions import db

    app = build_app(make_config(SQLALCHEMY_DATABASE_URI=postgres_url))
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["connect_timeout"] == 5
    with app.app_context():
        with db.engine.connect() as conn:
            parameters = conn.connection.driver_connection.info.get_parameters()
    assert parameters.get("connect_timeout") == "5"  # what libpq was really given
