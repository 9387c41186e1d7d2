"""scripts/serve, the production entry point: refuses unsafe settings before touching the
database, applies migrations, then execs gunicorn with the configured workers and bind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from prod_support import ROOT, SERVE, production_env, start_instance

from app import create_app
from app.config import ConfigError, config_from_environment


def _serve(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SERVE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _env(tmp_path: Path, sim_server, **overrides: str) -> dict[str, str]:
    return production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite'}",
        LITELLM_BASE_URL=sim_server.base_url,
        HTTP_CACHE_URL="memory",
        **overrides,
    )


@pytest.mark.parametrize("secret", ["", "null", "None", "  "])
def test_refuses_several_workers_in_production_without_secret_key(tmp_path, sim_server, secret):
    env = _env(tmp_path, sim_server, GUNICORN_WORKERS="3", SECRET_KEY=secret)
    result = _serve(env)
    assert result.returncode == 64
    assert "GUNICORN_WORKERS=3" in result.stderr and "SECRET_KEY" in result.stderr
    assert "migrations" not in result.stderr
    assert not (tmp_path / "portal.sqlite").exists()  # refused before touching the database


def test_one_worker_without_secret_key_is_still_refused_by_the_config(tmp_path, sim_server):
    env = _env(tmp_path, sim_server, GUNICORN_WORKERS="1")
    del env["SECRET_KEY"]
    result = _serve(env)
    assert result.returncode != 0
    assert "missing required environment variables for production: SECRET_KEY" in result.stderr
    assert "starting gunicorn" not in result.stderr


@pytest.mark.parametrize("name,value", [("GUNICORN_WORKERS", "0"), ("GUNICORN_THREADS", "x")])
def test_rejects_malformed_gunicorn_numbers(tmp_path, sim_server, name, value):
    result = _serve(_env(tmp_path, sim_server, **{name: value}))
    assert result.returncode == 64
    assert name in result.stderr


def test_config_refuses_production_without_secret_key(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("LITELLM_BASE_URL", "http://127.0.0.1:4000")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-prod-master-key-123")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config_from_environment())
    monkeypatch.setenv("SECRET_KEY", "null")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config_from_environment())


@pytest.mark.slow
def test_serve_migrates_then_runs_gunicorn_on_port(tmp_path, sim_server, sim):
    env = _env(tmp_path, sim_server, GUNICORN_WORKERS="2", GUNICORN_THREADS="2")
    instance = start_instance("serve", env, tmp_path, via_port=True)
    try:
        instance.wait_ready()
        ready = requests.get(instance.base_url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "litellm": "ok"}
        # Header sign-in works end to end (the user row is written by a worker).
        keys = requests.get(
            instance.base_url + "/keys",
            headers={"X-Forwarded-Email": "ops@example.com"},
            timeout=10,
        )
        assert keys.status_code == 200
        assert requests.get(instance.base_url + "/keys", timeout=10).status_code == 401
    finally:
        instance.stop()
    log = instance.log_text()
    assert "applying database migrations" in log and "2 worker(s) x 2 thread(s)" in log
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'portal.sqlite'}", poolclass=sa.NullPool)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        emails = conn.scalars(sa.text("SELECT email FROM users")).all()
    engine.dispose()
    assert emails == ["ops@example.com"]
    assert instance.process.returncode is not None
