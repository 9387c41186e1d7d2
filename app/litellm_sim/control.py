"""``/_sim/*`` control routes: the SimState API over HTTP for out-of-process tests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from .errors import SimHTTPError
from .state import SimState

bp = Blueprint("litellm_sim_control", __name__, url_prefix="/_sim")


def _state() -> SimState:
    return current_app.extensions["litellm_sim"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SimHTTPError(400, {"detail": {"error": "JSON object body required"}})
    return body


@bp.post("/reset")
def reset() -> Any:
    """Clear all keys, usage rows, calls and faults."""
    _state().reset()
    return jsonify({"ok": True})


@bp.get("/calls")
def calls() -> Any:
    """The request log as ``[{"method", "path", "query"}]``."""
    state = _state()
    with state.lock:
        items = [{"method": m, "path": p, "query": q} for m, p, q in state.calls]
    return jsonify({"calls": items, "count": len(items)})


@bp.post("/calls/reset")
def calls_reset() -> Any:
    """Forget the request log."""
    _state().reset_calls()
    return jsonify({"ok": True})


@bp.post("/faults")
def faults() -> Any:
    """Apply fault switches from JSON, in this order: ``clear``, ``latency_ms``,
    ``fault {path,status,body?,times?}``, ``garbage {path,kind}``, ``hang {path,seconds}``,
    ``late_answer {path,seconds}``,
    ``never_ending {path,enabled}``, ``aggregated_available``, ``ignore_user_filter``,
    ``substring_matching``, ``version`` (e.g. "1.75.0"), ``enterprise``,
    ``batch_write_delay`` (seconds).
    """
    body = _body()
    state = _state()
    try:
        if body.get("clear"):
            state.clear_faults()
        if "latency_ms" in body:
            state.set_latency(int(body["latency_ms"]))
        if body.get("fault"):
            f = body["fault"]
            state.set_fault(f["path"], int(f["status"]), f.get("body"), f.get("times"))
        if body.get("garbage"):
            state.set_garbage(body["garbage"]["path"], body["garbage"]["kind"])
        if body.get("hang"):
            state.set_hang(body["hang"]["path"], float(body["hang"]["seconds"]))
        if body.get("late_answer"):
            late = body["late_answer"]
            state.set_late_answer(late["path"], float(late["seconds"]))
        if body.get("never_ending"):
            ne = body["never_ending"]
            state.set_never_ending_pages(ne["path"], bool(ne.get("enabled", True)))
        if "aggregated_available" in body:
            state.set_aggregated_available(bool(body["aggregated_available"]))
        if "ignore_user_filter" in body:
            state.set_ignore_user_filter(bool(body["ignore_user_filter"]))
        if "substring_matching" in body:
            state.set_substring_matching(bool(body["substring_matching"]))
        if "version" in body:
            state.set_version(str(body["version"]))
        if "enterprise" in body:
            state.set_enterprise(bool(body["enterprise"]))
        if "batch_write_delay" in body:
            state.set_batch_write_delay(float(body["batch_write_delay"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SimHTTPError(400, {"detail": {"error": f"bad fault spec: {exc!r}"}}) from None
    return jsonify({"ok": True})


@bp.get("/keys")
def list_keys() -> Any:
    """Every key as ``{"live": [...], "deleted": [...]}`` of ``{token, key_alias, user_id}``:
    what a test compares with the portal's own rows."""
    state = _state()

    def brief(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"token": t, "key_alias": r["key_alias"], "user_id": r["user_id"]}
            for t, r in rows.items()
        ]

    with state.lock:
        return jsonify({"live": brief(state.keys), "deleted": brief(state.deleted)})


@bp.post("/usage/flush")
def flush_usage() -> Any:
    """Write every delayed usage row now (the batch writer's next run, without waiting)."""
    return jsonify({"written": _state().flush_usage(everything=True)})


@bp.post("/keys")
def add_key() -> Any:
    """``SimState.add_key`` with the JSON body as keyword arguments; returns the row + key."""
    body = _body()
    try:
        row = _state().add_key(**body)
    except (TypeError, ValueError) as exc:
        raise SimHTTPError(400, {"detail": {"error": str(exc)}}) from None
    return jsonify(row)


@bp.post("/usage")
def add_usage() -> Any:
    """``SimState.add_usage`` with the JSON body (or ``{"rows": [...]}``) as keyword arguments."""
    body = _body()
    items = body["rows"] if isinstance(body.get("rows"), list) else [body]
    try:
        rows = [_state().add_usage(**item) for item in items]
    except (TypeError, ValueError) as exc:
        raise SimHTTPError(400, {"detail": {"error": str(exc)}}) from None
    return jsonify({"rows": rows})
