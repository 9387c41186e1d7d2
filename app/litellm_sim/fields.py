"""Field templates copied from LiteLLM 1.110.2's serialized models (examples/keys.json).

pydantic emits every field of a model, so the simulator starts from these full templates and
overlays the stored values; that keeps response shapes identical to the real proxy.
"""

from __future__ import annotations

import copy
from typing import Any

# Columns of LiteLLM_VerificationToken we store per key (the DB row).
ROW_DEFAULTS: dict[str, Any] = {
    "token": None, "key_name": None, "key_alias": None, "spend": 0.0, "total_spend": 0.0,
    "max_budget": None, "expires": None, "models": [], "aliases": {}, "config": {},
    "user_id": None, "team_id": None, "agent_id": None, "project_id": None,
    "max_parallel_requests": None, "metadata": {}, "tpm_limit": None, "rpm_limit": None,
    "tpd_limit": None, "budget_duration": None, "budget_reset_at": None,
    "allowed_cache_controls": [], "allowed_routes": [], "key_type": None, "permissions": {},
    "model_spend": {}, "model_max_budget": {}, "budget_fallbacks": {},
    "soft_budget_cooldown": False, "blocked": None, "litellm_budget_table": None,
    "budget_id": None, "organization_id": None, "created_at": None, "created_by": None,
    "updated_at": None, "updated_by": None, "settings_updated_at": None, "last_active": None,
    "object_permission_id": None, "object_permission": None, "access_group_ids": [],
    "rotation_count": 0, "auto_rotate": False, "rotation_interval": None,
    "last_rotation_at": None, "key_rotation_at": None, "router_settings": {},
    "budget_limits": None, "soft_budget": None,
}  # fmt: skip

# /key/info's ``info``: the database row with its relations, in LiteLLM 1.108.7's order (no
# ``token``, no ``soft_budget``; ``status`` is added by the route).
INFO_FIELDS: tuple[str, ...] = (
    "key_name", "key_alias", "soft_budget_cooldown", "spend", "total_spend", "expires", "models",
    "aliases", "config", "router_settings", "user_id", "team_id", "agent_id", "project_id",
    "permissions", "max_parallel_requests", "metadata", "blocked", "tpm_limit", "rpm_limit",
    "tpd_limit", "max_budget", "budget_duration", "budget_reset_at", "allowed_cache_controls",
    "allowed_routes", "key_type", "policies", "access_group_ids", "model_spend",
    "model_max_budget", "budget_fallbacks", "budget_id", "organization_id",
    "object_permission_id", "created_at", "created_by", "updated_at", "updated_by",
    "settings_updated_at", "last_active", "rotation_count", "auto_rotate", "rotation_interval",
    "last_rotation_at", "key_rotation_at", "budget_limits", "litellm_budget_table",
    "litellm_organization_table", "litellm_project_table", "object_permission",
    "jwt_key_mappings",
)  # fmt: skip
_INFO_DEFAULTS: dict[str, Any] = {
    "policies": [], "litellm_organization_table": None, "litellm_project_table": None,
    "jwt_key_mappings": None,
}  # fmt: skip
_DATETIME_COLUMNS = ("expires", "budget_reset_at", "created_at", "updated_at",
                     "settings_updated_at", "last_active", "last_rotation_at", "key_rotation_at",
                     "deleted_at")  # fmt: skip

# UpdateRouterConfig as /key/generate returns it for a key without router settings.
_ROUTER_CONFIG: dict[str, Any] = {
    "routing_strategy_args": None, "routing_strategy": None, "routing_groups": None,
    "retry_policy": None, "model_group_retry_policy": None, "model_group_affinity_config": None,
    "allowed_fails": None, "cooldown_time": None, "num_retries": None, "timeout": None,
    "max_retries": None, "retry_after": None, "fallbacks": None,
    "context_window_fallbacks": None, "model_group_alias": {}, "enable_tag_filtering": None,
    "weights": None, "tag_routing_prefix": None, "optional_pre_call_checks": None,
    "fallback_on_unsupported_params": None,
}  # fmt: skip

# Auth-time join fields of UserAPIKeyAuth that are null/empty on /key/list.
_AUTH_EXTRA: dict[str, Any] = {
    "team_spend": None, "team_alias": None, "team_tpm_limit": None, "team_rpm_limit": None,
    "team_tpd_limit": None, "team_max_budget": None, "team_soft_budget": None,
    "team_model_max_budget": None, "team_models": [], "team_blocked": False,
    "team_model_aliases": None, "team_member": None, "team_metadata": None,
    "team_object_permission_id": None, "team_member_spend": None,
    "team_member_tpm_limit": None, "team_member_rpm_limit": None, "end_user_id": None,
    "end_user_tpm_limit": None, "end_user_rpm_limit": None, "end_user_tpd_limit": None,
    "end_user_max_budget": None, "end_user_model_max_budget": None,
    "organization_alias": None, "organization_max_budget": None,
    "organization_tpm_limit": None, "organization_rpm_limit": None,
    "organization_metadata": None, "project_alias": None, "project_metadata": None,
    "last_refreshed_at": None, "api_key": None, "user_role": None,
    "allowed_model_region": None, "parent_otel_span": None, "rpm_limit_per_model": None,
    "tpm_limit_per_model": None, "user_tpm_limit": None, "user_rpm_limit": None,
    "user_email": None, "user_spend": None, "user_max_budget": None,
    "user_model_max_budget": None, "request_route": None, "is_session_token": False,
    "user": None, "created_by_user": None, "end_user_object_permission": None,
    "team_object_permission": None, "jwt_claims": None,
}  # fmt: skip

# GenerateKeyResponse fields in LiteLLM's order.
GENERATE_DEFAULTS: dict[str, Any] = {
    "key_alias": None, "duration": None, "models": [], "spend": 0.0, "max_budget": None,
    "user_id": None, "team_id": None, "agent_id": None, "max_parallel_requests": None,
    "metadata": {}, "tpm_limit": None, "rpm_limit": None, "budget_duration": None,
    "budget_limits": None, "allowed_cache_controls": [], "config": {}, "permissions": {},
    "model_max_budget": {}, "budget_fallbacks": None, "model_rpm_limit": None,
    "model_tpm_limit": None, "mcp_rpm_limit": None, "tag_rpm_limit": None,
    "guardrails": None, "policies": None, "prompts": None, "blocked": None, "aliases": {},
    "object_permission": None, "key": None, "tpd_limit": None,
    "default_estimated_output_tokens": None, "default_estimated_output_tokens_per_model": None,
    "budget_id": None, "end_user_budget_id": None, "tags": None,
    "disable_global_guardrails": None, "enable_prompt_caching": None,
    "throttle_on_budget_exceeded": None, "enforced_params": None, "allowed_routes": [],
    "allowed_passthrough_routes": None, "denied_passthrough_routes": None,
    "allowed_vector_store_indexes": None, "rpm_limit_type": None, "tpm_limit_type": None,
    "router_settings": None, "access_group_ids": [], "key_name": None, "key_type": None,
    "expires": None, "token_id": None, "organization_id": None, "project_id": None,
    "litellm_budget_table": None, "token": None, "created_by": None, "updated_by": None,
    "created_at": None, "updated_at": None,
}  # fmt: skip

# Archive-only columns of LiteLLM_DeletedVerificationToken.
DELETED_EXTRA = ("id", "deleted_at", "deleted_by", "deleted_by_api_key", "litellm_changed_by")

SPEND_METRIC_FIELDS: tuple[str, ...] = (
    "spend", "flat_cost", "ptu_hours", "prompt_tokens", "completion_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "compression_saved_tokens",
    "compression_savings_spend", "prompt_caching_savings_spend",
    "gateway_injected_caching_savings_spend", "autorouter_savings_spend", "total_tokens",
    "successful_requests", "failed_requests", "api_requests", "total_response_time_ms",
    "timed_requests",
)  # fmt: skip
FLOAT_METRICS = frozenset(
    {"spend", "flat_cost", "ptu_hours", "compression_savings_spend",
     "prompt_caching_savings_spend", "gateway_injected_caching_savings_spend",
     "autorouter_savings_spend"}
)  # fmt: skip


def new_row() -> dict[str, Any]:
    """A fresh key DB row with every column at its default (deep copy: lists/dicts inside)."""
    return copy.deepcopy(ROW_DEFAULTS)


def full_object(row: dict[str, Any]) -> dict[str, Any]:
    """Serialize a key row as /key/list?return_full_object=true does (UserAPIKeyAuth).

    LiteLLM_VerificationTokenView renames organization_id to org_id.
    """
    out: dict[str, Any] = {}
    for name, default in ROW_DEFAULTS.items():
        if name == "organization_id":
            out["org_id"] = row.get("organization_id")
            continue
        out[name] = copy.deepcopy(row.get(name, default))
    out.update(copy.deepcopy(_AUTH_EXTRA))
    return out


def deleted_object(row: dict[str, Any]) -> dict[str, Any]:
    """Serialize an archived key as LiteLLM_DeletedVerificationToken (status=deleted)."""
    out = {
        name: copy.deepcopy(row.get(name, default))
        for name, default in ROW_DEFAULTS.items()
        if name != "soft_budget"
    }
    out["org_id"] = row.get("organization_id")
    for name in DELETED_EXTRA:
        out[name] = row.get(name)
    return out


def iso_offset(value: Any) -> Any:
    """``...Z`` -> ``...+00:00`` (anything else unchanged)."""
    return value[:-1] + "+00:00" if isinstance(value, str) and value.endswith("Z") else value


def info_object(row: dict[str, Any]) -> dict[str, Any]:
    """Serialize a key row as /key/info's ``info`` (without ``status``).

    LiteLLM returns the row there without pydantic's JSON mode, so datetimes end in ``+00:00``
    instead of ``Z`` (for a deleted key too: see ``offset_datetimes``).
    """
    out = {
        name: copy.deepcopy(row.get(name, _INFO_DEFAULTS.get(name, ROW_DEFAULTS.get(name))))
        for name in INFO_FIELDS
    }
    return offset_datetimes(out)


def offset_datetimes(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its datetime columns in ``+00:00`` form."""
    return {k: iso_offset(v) if k in _DATETIME_COLUMNS else v for k, v in obj.items()}


def router_config(with_content_policy: bool) -> dict[str, Any]:
    """The all-null UpdateRouterConfig of a /key/generate answer (1.110 adds one field)."""
    out = copy.deepcopy(_ROUTER_CONFIG)
    if with_content_policy:
        out["content_policy_fallbacks"] = None
    return out


_EMPTY_METRICS = {f: (0.0 if f in FLOAT_METRICS else 0) for f in SPEND_METRIC_FIELDS}


def empty_metrics() -> dict[str, Any]:
    """SpendMetrics with every field at zero (a copy: a page of usage makes thousands)."""
    return _EMPTY_METRICS.copy()


# Request fields stored on the key row as-is (type for 422 checks).
KEY_FIELDS: dict[str, str] = {
    "key_alias": "str", "user_id": "str", "team_id": "str", "organization_id": "str",
    "project_id": "str", "agent_id": "str", "models": "list", "max_budget": "number",
    "budget_duration": "str", "metadata": "dict", "tpm_limit": "int", "rpm_limit": "int",
    "tpd_limit": "int", "max_parallel_requests": "int", "soft_budget": "number",
    "blocked": "bool", "key_type": "str", "aliases": "dict", "config": "dict",
    "permissions": "dict", "model_max_budget": "dict", "allowed_routes": "list",
    "allowed_cache_controls": "list", "tags": "list", "spend": "number",
    "router_settings": "dict", "budget_id": "str", "budget_limits": "any",
    "budget_fallbacks": "dict", "access_group_ids": "list", "policies": "list",
    "object_permission": "dict",
}  # fmt: skip
BODY_ONLY = {"key": "str", "duration": "str", "model_tpm_limit": "dict", "model_rpm_limit": "dict"}
