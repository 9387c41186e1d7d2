"""Home redirect and the health endpoints used by load balancers."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for

from app.auth import login_required
from app.services import litellm_client
from app.services.readiness import check_database

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index():
    """Keys are the portal's front door."""
    return redirect(url_for("keys.index"))


@bp.get("/healthz")
def healthz():
    """The process is up; says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database commits a write and LiteLLM is alive; 503 naming what failed."""
    checks = {"database": check_database()}
    try:
        checks["litellm"] = "ok" if litellm_client().health() else "failed: not alive"
    except Exception as exc:  # noqa: BLE001
        checks["litellm"] = f"failed: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
