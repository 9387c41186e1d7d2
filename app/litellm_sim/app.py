"""Flask factory for the LiteLLM simulator: auth, latency, faults, garbage, request log."""

from __future__ import annotations

import hmac
import json
import os
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from . import activity_routes, control, key_routes, model_routes
from .errors import SimHTTPError, detail_error, plain_validation_errors, proxy_error
from .faults import Fault
from .state import SimState
from .versions import DEFAULT_VERSION

DEFAULT_MASTER_KEY = "sk-sim-master-0123456789"
_AGGREGATED = "/user/daily/activity/aggregated"
_HTML = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"  # noqa: E501


def _presented_key() -> str | None:
    """The API key from ``Authorization: Bearer``, ``x-litellm-api-key`` or ``API-Key``."""
    auth = request.headers.get("Authorization", "").strip()
    if auth:
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else auth
        if token and token.lower() != "bearer":
            return token
    for header in ("x-litellm-api-key", "API-Key"):
        value = request.headers.get(header, "").strip()
        if value:
            return value
    return None


def _check_auth(master_key: str) -> None:
    key = _presented_key()
    if key is None:
        raise proxy_error(
            401, "Authentication Error, No api key passed in.", "auth_error", param="None"
        )
    if not hmac.compare_digest(key.encode(), master_key.encode()):
        # Virtual keys are not accepted as callers: the portal always uses the master key.
        raise proxy_error(
            401, "Authentication Error, Invalid API key provided.", "token_not_found_in_db", "key"
        )


def _fault_response(fault: Fault, path: str) -> Response:
    if fault.body is not None:
        body = fault.body
    elif path.startswith("/user/daily/activity"):
        body = detail_error(fault.status, "Failed to fetch analytics: simulated fault").body
    elif fault.status == 401:
        body = proxy_error(401, "Authentication Error, Invalid API key provided.").body
    else:
        body = proxy_error(fault.status, f"Simulated LiteLLM error (HTTP {fault.status})").body
    resp = jsonify(body)
    resp.status_code = fault.status
    return resp


def create_sim_app(
    master_key: str = DEFAULT_MASTER_KEY,
    seed: str | None = None,
    latency_ms: int = 0,
    state: SimState | None = None,
    batch_write_delay: float = 0.0,
    version: str = DEFAULT_VERSION,
) -> Flask:
    """Build the simulator WSGI app; ``app.extensions["litellm_sim"]`` is its SimState.

    ``seed="demo"`` loads the deterministic demo data (see ``seed.load_demo``).
    Passing an existing ``state`` shares one store between several apps.
    ``batch_write_delay`` (seconds) makes recorded usage visible only that much later, like
    LiteLLM's batch writer (10–20 s on a real proxy); ``version`` picks the LiteLLM release
    imitated where releases differ (``versions.FEATURES``).
    """
    app = Flask("litellm_sim")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep LiteLLM's field order
    app.json.compact = True  # type: ignore[attr-defined]
    if state is None:
        state = SimState(latency_ms, batch_write_delay=batch_write_delay, version=version)
    if latency_ms:
        state.set_latency(latency_ms)
    app.extensions["litellm_sim"] = state
    app.config["LITELLM_SIM_MASTER_KEY"] = master_key
    if seed == "demo":
        from .seed import load_demo

        load_demo(state)
    elif seed not in (None, "none"):
        raise ValueError(f"unknown seed {seed!r} (use 'demo' or None)")

    app.register_blueprint(key_routes.bp)
    app.register_blueprint(activity_routes.bp)
    app.register_blueprint(model_routes.bp)
    if os.environ.get("PORTAL_ENV") != "production":
        # Test and demo controls (seeding, faults, latency): never beside a production portal.
        app.register_blueprint(control.bp)

    @app.get("/health/liveliness")
    def liveliness() -> Any:
        """No auth; LiteLLM answers the JSON string ``"I'm alive!"``."""
        return jsonify("I'm alive!")

    @app.before_request
    def _before() -> Response | None:
        path = request.path
        if path.startswith("/_sim/") or path == "/_sim":
            _check_auth(master_key)
            return None
        state.record_call(request.method, path, request.args.to_dict(flat=True))
        # LiteLLM's background jobs, run lazily: the batch writer and the budget reset.
        state.flush_usage()
        state.reset_budgets()
        delay = state.latency_ms
        if delay:
            time.sleep(delay / 1000)  # outside the lock: concurrent requests overlap
        state.wait_hang(path)
        fault = state.take_fault(path)
        if fault is not None:
            return _fault_response(fault, path)
        if path == _AGGREGATED and not state.aggregated_available:
            return _not_found()
        if request.url_rule is None or path == "/health/liveliness":
            return None  # routing 404/405 comes before auth in FastAPI
        _check_auth(master_key)
        return None

    @app.after_request
    def _garbage(resp: Response) -> Response:
        path = request.path
        if not path.startswith("/_sim"):
            state.wait_late_answer(path)
        kind = None if path.startswith("/_sim") else state.garbage_for(path)
        if kind == "html":
            resp = Response(_HTML, status=200, mimetype="text/html")
        elif kind == "truncated":
            data = resp.get_data() or json.dumps({"results": []}).encode()
            resp = Response(data[: max(1, len(data) // 2)], status=200, mimetype="application/json")
        return resp

    @app.errorhandler(SimHTTPError)
    def _sim_error(exc: SimHTTPError) -> Response:
        if exc.status == 422 and state.supports("plain_422"):
            exc.body = plain_validation_errors(exc.body)
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        resp = jsonify({"detail": exc.name})  # FastAPI: {"detail": "Not Found"}
        resp.status_code = exc.code or 500
        return resp

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        app.logger.exception("litellm_sim crashed")
        return proxy_error(500, f"Internal Server Error: {exc!r}").response()

    return app


def _not_found() -> Response:
    resp = jsonify({"detail": "Not Found"})
    resp.status_code = 404
    return resp
