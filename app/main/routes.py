"""Home redirect and the health endpoints used by load balancers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify, redirect, url_for

from app.auth import login_required
from app.extensions import db
from app.services import litellm_client

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
    """Ready when the database answers and LiteLLM is alive; 503 naming what failed otherwise."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        checks["litellm"] = "ok" if litellm_client().health() else "failed: not alive"
    except Exception as exc:  # noqa: BLE001
        checks["litellm"] = f"failed: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
