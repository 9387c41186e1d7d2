"""Which LiteLLM release the simulator imitates, and the behaviour that changed between releases.

Only differences the portal can observe are modelled; everything else follows the newest release.
"""

from __future__ import annotations

DEFAULT_VERSION = "1.110.2"

# feature -> first release that has it
FEATURES: dict[str, str] = {
    # /user/daily/activity/aggregated exists (before: 404)
    "aggregated": "1.76.0",
    # the aggregated endpoint honours ?user_id= (1.76.x returned every user's rows)
    "aggregated_user_filter": "1.77.0",
    # the paginated endpoint honours ?user_id= for admins (before: always every user)
    "user_filter": "1.83.0",
    # api_key_limit with total_api_keys / entity_total_api_keys in the aggregated metadata
    "api_key_limit": "1.106.0",
    # breakdown.guardrails, entity metadata {user_email, user_alias}, router content-policy
    # fallbacks on /key/generate
    "v1_110_fields": "1.110.0",
}


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.108.7"`` -> ``(1, 108, 7)``; ValueError for anything else."""
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected a LiteLLM version like 1.108.7, got {text!r}")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def supports(version: str, feature: str) -> bool:
    """Whether LiteLLM ``version`` has ``feature`` (a key of ``FEATURES``)."""
    return parse_version(version) >= parse_version(FEATURES[feature])
