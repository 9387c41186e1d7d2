"""Which LiteLLM release the simulator imitates, and the behaviour that changed between releases.

Only differences the portal can observe are modelled; everything else follows the newest release.
"""

from __future__ import annotations

from typing import Any

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
    # start_date/end_date must be real YYYY-MM-DD dates with start <= end (before: compared as
    # strings, so a bad date or a reversed range is simply empty)
    "strict_dates": "1.108.0",
    # FastAPI's 422 entries without pydantic's "input" and "ctx" (1.75.0 has them, 1.108.7 not;
    # the release in between that changed it was not observed)
    "plain_422": "1.108.0",
}

# Daily-activity fields that older releases do not send at all (field -> first release).
METRIC_FIELDS_SINCE: dict[str, str] = {
    "flat_cost": "1.100.0", "compression_saved_tokens": "1.100.0",
    "compression_savings_spend": "1.100.0", "prompt_caching_savings_spend": "1.100.0",
    "gateway_injected_caching_savings_spend": "1.100.0", "autorouter_savings_spend": "1.100.0",
    "total_response_time_ms": "1.106.0", "timed_requests": "1.106.0", "ptu_hours": "1.108.0",
}  # fmt: skip
TOTALS_SINCE: dict[str, str] = {
    "total_flat_cost": "1.100.0", "total_compression_saved_tokens": "1.100.0",
    "total_compression_savings_spend": "1.100.0", "total_prompt_caching_savings_spend": "1.100.0",
    "total_gateway_injected_caching_savings_spend": "1.100.0",
    "total_autorouter_savings_spend": "1.100.0", "total_response_time_ms": "1.106.0",
    "total_timed_requests": "1.106.0", "total_ptu_hours": "1.108.0", "api_key_limit": "1.106.0",
    "total_api_keys": "1.106.0", "entity_total_api_keys": "1.106.0",
}  # fmt: skip
KEY_METADATA_SINCE: dict[str, str] = {
    "user_id": "1.106.0", "user_email": "1.106.0", "key_exists": "1.106.0",
}  # fmt: skip
BREAKDOWNS_SINCE: dict[str, str] = {"endpoints": "1.83.0", "guardrails": "1.110.0"}


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


def _missing(version: str, since: dict[str, str]) -> set[str]:
    have = parse_version(version)
    return {name for name, first in since.items() if have < parse_version(first)}


def activity_as_sent_by(version: str, body: dict[str, Any]) -> dict[str, Any]:
    """A daily-activity body (built with the newest fields) without the fields ``version``
    does not send. Changes ``body`` in place and returns it."""
    metrics, totals = _missing(version, METRIC_FIELDS_SINCE), _missing(version, TOTALS_SINCE)
    key_meta, breakdowns = (
        _missing(version, KEY_METADATA_SINCE),
        _missing(version, BREAKDOWNS_SINCE),
    )
    if not (metrics or totals or key_meta or breakdowns):
        return body

    def strip_metrics(metric_values: dict[str, Any]) -> None:
        for name in metrics:
            metric_values.pop(name, None)

    def strip_key_entry(entry: dict[str, Any]) -> None:
        strip_metrics(entry["metrics"])
        for name in key_meta:
            entry["metadata"].pop(name, None)

    for day in body["results"]:
        strip_metrics(day["metrics"])
        for name in breakdowns:
            day["breakdown"].pop(name, None)
        for name, group in day["breakdown"].items():
            for entry in group.values():
                if name == "api_keys":
                    strip_key_entry(entry)
                    continue
                strip_metrics(entry["metrics"])
                for key_entry in entry["api_key_breakdown"].values():
                    strip_key_entry(key_entry)
    for name in totals:
        body["metadata"].pop(name, None)
    return body
