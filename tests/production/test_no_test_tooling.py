"""Production ships no test tooling: no simulator commands or controls, no axe-core."""

from __future__ import annotations

from pathlib import Path

from app.config import ProductionConfig
from app.litellm_sim import create_sim_app

ROOT = Path(__file__).resolve().parents[2]
SIM_KEY = "sk-sim-master-0123456789"


def _production_app(monkeypatch, tmp_path, sim_server, build_app):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-tests")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite")
    monkeypatch.setenv("LITELLM_BASE_URL", sim_server.base_url)
    monkeypatch.setenv("LITELLM_MASTER_KEY", SIM_KEY)
    monkeypatch.setenv("TRUSTED_PROXY_IPS", "127.0.0.1")
    monkeypatch.setenv("HTTP_CACHE_URL", "memory")
    return build_app(ProductionConfig(), schema=True)


def test_simulator_commands_exist_outside_production_only(
    app, monkeypatch, tmp_path, sim_server, build_app
):
    development = app.test_cli_runner().invoke(args=["--help"]).output
    assert "litellm-sim" in development and "seed-demo" in development
    production_app = _production_app(monkeypatch, tmp_path, sim_server, build_app)
    production = production_app.test_cli_runner().invoke(args=["--help"]).output
    assert "backfill-tokens" in production
    assert "litellm-sim" not in production and "seed-demo" not in production
    for command in ("litellm-sim", "seed-demo"):
        result = production_app.test_cli_runner().invoke(args=[command])
        assert result.exit_code != 0 and "No such command" in result.output


def test_simulator_controls_are_not_registered_in_production(monkeypatch):
    auth = {"Authorization": f"Bearer {SIM_KEY}"}
    development = create_sim_app(master_key=SIM_KEY).test_client()
    assert development.get("/_sim/calls", headers=auth).status_code == 200
    monkeypatch.setenv("PORTAL_ENV", "production")
    production = create_sim_app(master_key=SIM_KEY).test_client()
    assert production.get("/_sim/calls", headers=auth).status_code == 404
    assert production.post("/_sim/faults", headers=auth, json={}).status_code == 404
    assert production.get("/health/liveliness").status_code == 200


def test_axe_core_is_not_served(client):
    assert not [p for p in (ROOT / "static").rglob("*") if "axe" in p.name.lower()]
    response = client.get("/static/vendor/axe-core-4.14.1.min.js")
    assert response.status_code == 404
    response.close()
