"""/key/* endpoints with LiteLLM 1.110.2 semantics (docs/litellm.md)."""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from .durations import check_budget_duration, expires_at, next_budget_reset
from .errors import (
    Params,
    check_body_types,
    check_budget,
    proxy_error,
    validation_error,
    verr,
    wrapped_error,
)
from .fields import (
    BODY_ONLY,
    GENERATE_DEFAULTS,
    KEY_FIELDS,
    deleted_object,
    full_object,
    info_object,
    offset_datetimes,
    router_config,
)
from .state import SimState
from .values import hash_token_if_needed, iso, masked, parse_iso, utcnow

bp = Blueprint("litellm_sim_keys", __name__)

# The first six are all that releases before 1.110 accept.
_SORT_FIELDS = (
    "spend", "max_budget", "created_at", "updated_at", "token", "key_alias", "expires",
    "last_active", "budget_reset_at", "total_spend", "tpm_limit", "rpm_limit",
)  # fmt: skip
_STATUSES = ("active", "expired", "revoked", "deleted")


def _state() -> SimState:
    return current_app.extensions["litellm_sim"]


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        if request.get_data():
            raise validation_error([verr("json_invalid", ["body", 0], "JSON decode error")])
        raise validation_error([verr("missing", ["body"], "Field required")])
    if not isinstance(body, dict):
        raise validation_error(
            [verr("model_attributes_type", ["body"], "Input should be a valid dictionary")]
        )
    return body


def _expires(start: datetime, duration: str) -> str:
    """``expires`` for a lifetime; LiteLLM lets the parser's ValueError escape, so a malformed
    ``duration`` is an uncaught error: 500 with the parser's message."""
    try:
        return iso(expires_at(start, duration))
    except ValueError as exc:
        raise proxy_error(500, str(exc), "internal_server_error") from None


def _budget_reset_at(budget_duration: str | None) -> str | None:
    """``budget_reset_at`` for a budget window; 400 when LiteLLM would refuse the window."""
    if not budget_duration:
        return None
    try:
        check_budget_duration(budget_duration)
    except ValueError as exc:
        raise wrapped_error(400, str(exc)) from None
    return iso(next_budget_reset(utcnow(), budget_duration))


def _status(row: dict[str, Any]) -> str:
    if row.get("deleted_at"):
        return "deleted"
    if row.get("blocked"):
        return "revoked"
    if row.get("expires") and parse_iso(row["expires"]) < utcnow():
        return "expired"
    return "active"


@bp.post("/key/generate")
def generate_key() -> Any:
    """POST /key/generate → GenerateKeyResponse (200)."""
    body = _json_body()
    check_body_types(body, {**KEY_FIELDS, **BODY_ONLY})
    check_budget(body.get("max_budget"))
    state = _state()
    secret = body.get("key") or "sk-" + secrets.token_urlsafe(16)
    if not secret.startswith("sk-"):
        raise wrapped_error(
            400,
            "Invalid key format. LiteLLM Virtual Key must start with 'sk-'. "
            f"Received: {masked(secret)}",
        )
    now = utcnow()
    fields = {k: body[k] for k in KEY_FIELDS if k in body and k != "spend"}
    for empty_is_unset in ("team_id", "organization_id", "project_id"):
        if fields.get(empty_is_unset) == "":
            fields[empty_is_unset] = None
    fields.setdefault("models", [])
    fields["metadata"] = fields.get("metadata") or {}
    fields["key_type"] = body.get("key_type") or "default"
    duration = body.get("duration")
    fields["expires"] = _expires(now, duration) if duration else None
    fields["budget_reset_at"] = _budget_reset_at(body.get("budget_duration"))
    with state.lock:
        alias = fields.get("key_alias")
        if state.alias_taken(alias):
            raise proxy_error(
                400,
                f"Key with alias '{alias}' already exists. "
                "Unique key aliases across all keys are required.",
                param="key_alias",
            )
        if state.find_key(secret) is not None:
            raise proxy_error(400, "Unable to create key. Key already exists.", param="key")
        row = state.insert_key(secret, fields)
    return jsonify(_key_response(state, row, secret, body))


def _key_response(
    state: SimState, row: dict[str, Any], secret: str, body: dict[str, Any]
) -> dict[str, Any]:
    """GenerateKeyResponse for a stored row and its raw secret (generate and regenerate)."""
    resp = dict(GENERATE_DEFAULTS)
    resp.update({k: row[k] for k in resp if k in row})
    for k in ("model_tpm_limit", "model_rpm_limit", "tags", "guardrails"):
        resp[k] = body.get(k, resp[k])
    # LiteLLM does not echo the lifetime it was given (only ``expires`` shows it).
    resp.update(key=secret, token=row["token"], token_id=row["token"], duration=None)
    resp["router_settings"] = router_config(state.supports("v1_110_fields"))
    return resp


_ENTERPRISE_ONLY = (
    "Regenerating Virtual Keys is an Enterprise feature, You must be a LiteLLM Enterprise user "
    "to use this feature. If you have a license please set `LITELLM_LICENSE` in your env. Get a "
    "7 day trial key here: https://www.litellm.ai/enterprise#trial. \nPricing: "
    "https://www.litellm.ai/#pricing"
)


@bp.post("/key/regenerate", defaults={"key": None})
@bp.post("/key/<path:key>/regenerate")
def regenerate_key(key: str | None) -> Any:
    """An open-source proxy refuses with 500 before looking at anything; an Enterprise one keeps
    the key's row and settings under a new secret and token hash (the old hash stops working)."""
    state = _state()
    if not state.enterprise:
        raise proxy_error(500, _ENTERPRISE_ONLY, "internal_server_error")
    body = request.get_json(silent=True) or {}
    key = body.get("key") or key
    if not key:
        raise wrapped_error(400, "No key passed in.")
    token = hash_token_if_needed(key)
    with state.lock:
        if token not in state.keys:
            raise wrapped_error(404, f"Key {key} not found.")
        row = state.regenerate_key(token, body.get("new_key"))
    return jsonify(_key_response(state, row, row.pop("key"), body))


def _matches(value: str | None, wanted: str, substring: bool) -> bool:
    if substring:
        return value is not None and wanted.lower() in value.lower()
    return value == wanted


def _sort_key(field: str, row: dict[str, Any]) -> tuple[bool, Any]:
    value = row.get(field)
    return (value is not None, value if value is not None else 0)


@bp.get("/key/list")
def list_keys() -> Any:
    """GET /key/list → KeyListResponseObject; exact filters, ``created_at desc, token desc``."""
    p = Params(request.args)
    page = p.int("page", 1, ge=1)
    size = p.int("size", 10, ge=1, le=100)
    full = p.bool("return_full_object")
    substring = p.bool("substring_matching")
    p.bool("include_team_keys")
    p.bool("include_created_by_keys")
    p.check()
    assert page is not None and size is not None
    sort_by, sort_order = p.str("sort_by"), p.str("sort_order") or "desc"
    status = p.str("status")
    state = _state()
    sortable = _SORT_FIELDS if state.supports("v1_110_fields") else _SORT_FIELDS[:6]
    # LiteLLM checks sort_order only together with sort_by.
    if sort_by is not None and sort_by not in sortable:
        raise wrapped_error(
            400, f"Invalid sort column. Must be one of: {', '.join(sortable)}", param="None"
        )
    if sort_by is not None and sort_order not in ("asc", "desc"):
        raise wrapped_error(400, "Invalid sort order. Must be 'asc' or 'desc'", param="None")
    if status is not None and status not in _STATUSES:
        supported = ", ".join(f"'{s}'" for s in _STATUSES)
        raise wrapped_error(400, f"Invalid status value. Supported: {supported}.", param="None")
    if "user" in request.args.getlist("expand"):
        full = True
    sub = substring or state.substring_matching
    with state.lock:
        source = state.deleted if status == "deleted" else state.keys
        rows = [dict(r) for r in source.values()]
    filters = {
        "user_id": (p.str("user_id"), sub),
        "key_alias": (p.str("key_alias"), sub),
        "team_id": (p.str("team_id"), False),
        "organization_id": (p.str("organization_id"), False),
        "token": (p.str("key_hash"), False),
        "project_id": (p.str("project_id"), False),
        "agent_id": (p.str("agent_id"), False),
    }
    for field, (wanted, substr) in filters.items():
        if wanted is not None:
            rows = [r for r in rows if _matches(r.get(field), wanted, substr)]
    search = p.str("search")
    if search:
        rows = [r for r in rows if r["token"] == search or _matches(r["key_alias"], search, True)]
    rows = [r for r in rows if r.get("team_id") != "litellm-dashboard"]  # UI session tokens
    if status in ("active", "expired", "revoked"):
        rows = [r for r in rows if _status(r) == status]
    rows.sort(key=lambda r: r["token"], reverse=True)
    if sort_by:
        rows.sort(key=lambda r: _sort_key(sort_by, r), reverse=sort_order == "desc")
    else:
        rows.sort(key=lambda r: r["created_at"] or "", reverse=True)
    total = len(rows)
    chunk = rows[(page - 1) * size : page * size]
    if full:
        keys: list[Any] = [
            deleted_object(r) if status == "deleted" else full_object(r) for r in chunk
        ]
    else:
        keys = [r["token"] for r in chunk]
    total_pages = math.ceil(total / size)
    if state.never_ending_for(request.path):
        total_pages = 1_000_000
    return jsonify(
        {"keys": keys, "total_count": total, "current_page": page, "total_pages": total_pages}
    )


@bp.get("/key/info")
def key_info() -> Any:
    """GET /key/info?key= → ``{"key": <echo>, "info": row minus token + status}``."""
    value = request.args.get("key")
    if not value:
        # Without ?key= LiteLLM describes the calling key; the master key has no DB row.
        raise proxy_error(404, "Key not found in database", param="key")
    state = _state()
    token = hash_token_if_needed(value)
    with state.lock:
        live = state.keys.get(token)
        archived = state.deleted.get(token)
        if live is None and archived is None:
            raise proxy_error(404, "Key not found in database", param="key")
        # A deleted key is described from the archive, in the archive's shape.
        if live is not None:
            info = info_object(live)
        else:
            info = offset_datetimes(
                {k: v for k, v in deleted_object(archived).items() if k != "token"}
            )
        info["status"] = _status(live if live is not None else archived)
    return jsonify({"key": value, "info": info})


@bp.post("/key/delete")
def delete_keys() -> Any:
    """POST /key/delete → ``{"deleted_keys": [verbatim]}``; 404 when none of them exist."""
    body = _json_body()
    check_body_types(body, {"keys": "list", "key_aliases": "list"})
    keys, aliases = body.get("keys") or [], body.get("key_aliases") or []
    if not keys and not aliases:
        raise validation_error(
            [
                verr(
                    "value_error",
                    ["body"],
                    "Value error, At least one of 'keys' or 'key_aliases' must be provided.",
                )
            ]
        )
    state = _state()
    with state.lock:
        # With both given, LiteLLM deletes by ``keys`` and ignores ``key_aliases``.
        if keys:
            found = {hash_token_if_needed(k) for k in keys if isinstance(k, str)} & set(state.keys)
        else:
            found = {r["token"] for a in aliases for r in state.find_by_alias(a)}
        if not found:
            if state.supports("v1_110_fields"):
                raise proxy_error(404, "{'error': 'No keys found'}", "invalid_request_error")
            raise wrapped_error(404, "No keys found")
        for token in found:
            state.archive_key(token)
    return jsonify({"deleted_keys": keys or aliases})


@bp.post("/key/update")
def update_key() -> Any:
    """POST /key/update → ``{"key": <as sent>, ...updated row}`` (merge patch)."""
    body = _json_body()
    check_body_types(body, {**KEY_FIELDS, **BODY_ONLY})
    if not body.get("key") and not body.get("key_alias"):
        raise validation_error(
            [verr("value_error", ["body"], "Value error, either key or key_alias must be provided")]
        )
    check_budget(body.get("max_budget"))
    state = _state()
    with state.lock:
        if body.get("key"):
            row = state.find_key(body["key"])
        else:
            matches = state.find_by_alias(body["key_alias"])
            if len(matches) > 1:
                raise proxy_error(400, "Multiple keys found with this key_alias", param="key")
            row = matches[0] if matches else None
        if row is None:
            raise proxy_error(404, "Key not found.", param="key")
        patch = {k: body[k] for k in KEY_FIELDS if k in body}
        new_alias = patch.get("key_alias", row["key_alias"])
        if new_alias != row["key_alias"] and state.alias_taken(new_alias, row["token"]):
            raise proxy_error(
                400,
                f"Key with alias '{new_alias}' already exists. "
                "Unique key aliases across all keys are required.",
                param="key_alias",
            )
        if "duration" in body:
            d = body["duration"]
            no_expiry = d is None or d == "-1"
            patch["expires"] = None if no_expiry else _expires(utcnow(), d)
        if "budget_duration" in body:
            patch["budget_reset_at"] = _budget_reset_at(body["budget_duration"])
        row.update(patch)
        row["updated_at"] = iso(utcnow())
        out = {"key": body.get("key"), **{k: v for k, v in row.items() if k != "key"}}
    return jsonify(out)
