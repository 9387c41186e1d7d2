"""What a rotation carries from the old LiteLLM key to the new one, read from ``/key/info``.

A rotation makes a new LiteLLM key, so everything that limits or scopes the old one must be
sent again, as LiteLLM has it at that moment (an admin may have changed it there), not as the
portal remembers it. Every field ``/key/info`` describes is named here, either as carried or
with the reason it is not; ``tests/keys/test_rotation_carry.py`` (on a captured answer) and the
real-proxy suite (on a live one) fail on a field named nowhere, so a field a new LiteLLM
release adds cannot be forgotten silently.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Sent to /key/generate as /key/info has them (when set: an empty value is LiteLLM's default).
CARRIED: tuple[str, ...] = (
    "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit", "tpd_limit",
    "max_parallel_requests", "model_max_budget", "allowed_routes", "allowed_cache_controls",
    "aliases", "config", "router_settings", "permissions", "team_id", "organization_id",
    "project_id", "agent_id", "key_type", "budget_id", "budget_limits", "budget_fallbacks",
    "access_group_ids", "policies", "object_permission",
)  # fmt: skip

# Fields of /key/info that are not sent as they are, and why.
NOT_CARRIED: dict[str, str] = {
    "key_name": "LiteLLM derives it from the new secret",
    "key_alias": "the portal's alias moves to the new key; the old one gets a retired alias",
    "user_id": "the owner, which the portal sets",
    "metadata": "merged: what the portal does not own is carried, the portal's own is renewed",
    "spend": "carried by /key/update right after /key/generate, so the budget still holds",
    "expires": "carried as the remaining lifetime (duration)",
    "blocked": "a blocked key is never rotated",
    "total_spend": "what the old secret spent; the key's lifetime spend sums its lineage",
    "model_spend": "what the old secret spent per model",
    "budget_reset_at": "LiteLLM starts the new key's budget window itself",
    "soft_budget_cooldown": "alerting state of the old secret",
    "created_at": "state of the old secret",
    "created_by": "state of the old secret",
    "updated_at": "state of the old secret",
    "updated_by": "state of the old secret",
    "settings_updated_at": "state of the old secret",
    "last_active": "state of the old secret",
    "status": "state of the old secret",
    "rotation_count": "LiteLLM's own (Enterprise) rotation",
    "auto_rotate": "LiteLLM's own (Enterprise) rotation",
    "rotation_interval": "LiteLLM's own (Enterprise) rotation",
    "last_rotation_at": "LiteLLM's own (Enterprise) rotation",
    "key_rotation_at": "LiteLLM's own (Enterprise) rotation",
    "object_permission_id": "a row id; its content is carried as object_permission",
    "litellm_budget_table": "the joined budget row; carried by budget_id",
    "litellm_organization_table": "the joined organisation row; carried by organization_id",
    "litellm_project_table": "the joined project row; carried by project_id",
    "jwt_key_mappings": "JWT mappings of the old secret's row",
    "deleted_at": "archive state",
}

GRACE_SHARE_FIELD = "portal_grace_share"  # metadata of an old secret: its budget share

# Metadata the portal writes on every key it makes: renewed, never copied.
PORTAL_METADATA = frozenset(
    {"created_by", "portal_user", "portal_label", "portal_request_id", "rotated_from",
     "portal_deployment", "portal_grace_share"}
)  # fmt: skip

_ROW_IDS = ("object_permission_id", "id", "created_at", "updated_at")


def unnamed_fields(info: Mapping[str, Any]) -> set[str]:
    """The fields of a ``/key/info`` answer this module does not name (should be none)."""
    return set(info) - set(CARRIED) - set(NOT_CARRIED)


def carried_settings(info: Mapping[str, Any]) -> dict[str, Any]:
    """What /key/generate gets from the old key's ``info`` (copies: nothing shared)."""
    out: dict[str, Any] = {}
    for name in CARRIED:
        value = info.get(name)
        if value is None or (isinstance(value, list | dict) and not value):
            continue
        if name == "object_permission" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in _ROW_IDS}
        out[name] = copy.deepcopy(value)
    return out


def carried_metadata(info: Mapping[str, Any], portal: Mapping[str, Any]) -> dict[str, Any]:
    """The old key's metadata without the portal's own entries, then ``portal``'s."""
    metadata = info.get("metadata")
    kept = {
        k: copy.deepcopy(v)
        for k, v in (metadata.items() if isinstance(metadata, Mapping) else ())
        if k not in PORTAL_METADATA
    }
    return {**kept, **portal}
