"""Ground truth for the usage tests: sums of the simulator's raw rows."""

from __future__ import annotations

import datetime as dt

import pytest

from app.services.litellm import METRIC_NAMES

MODELS = (("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet", "anthropic"))
TODAY = dt.datetime.now(dt.UTC).date()


def day(offset: int) -> dt.date:
    """``offset`` UTC days before today."""
    return TODAY - dt.timedelta(days=offset)


def expected(sim, tokens, start: dt.date, end: dt.date, *, by: str | None = None) -> dict:
    """Sum the simulator's raw rows for ``tokens`` in ``start..end``: the ground truth.

    ``by=None`` → one metrics dict; ``by="date"|"model"|"custom_llm_provider"|"api_key"`` →
    dict of group → metrics dict.
    """
    groups: dict = {}
    for row in sim.rows:
        if row["api_key"] not in tokens or not (
            start.isoformat() <= row["date"] <= end.isoformat()
        ):
            continue
        group = groups.setdefault(row[by] if by else None, dict.fromkeys(METRIC_NAMES, 0))
        group["spend"] += row["spend"]
        group["prompt_tokens"] += row["prompt_tokens"]
        group["completion_tokens"] += row["completion_tokens"]
        group["total_tokens"] += row["prompt_tokens"] + row["completion_tokens"]
        group["cache_read_input_tokens"] += row["cache_read_input_tokens"]
        group["cache_creation_input_tokens"] += row["cache_creation_input_tokens"]
        group["successful_requests"] += row["successful_requests"]
        group["failed_requests"] += row["failed_requests"]
        group["api_requests"] += row["successful_requests"] + row["failed_requests"]
    if by is None:
        return groups.get(None, dict.fromkeys(METRIC_NAMES, 0))
    return groups


def assert_metrics_equal(actual: dict, wanted: dict) -> None:
    """Integers exactly, spend to 1e-9 (float sums in a different order)."""
    for name in METRIC_NAMES:
        if name == "spend":
            assert actual[name] == pytest.approx(wanted[name], abs=1e-9), name
        else:
            assert actual[name] == wanted[name], name
