"""Daily-activity aggregation, mirroring LiteLLM's ``common_daily_activity`` logic."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .fields import FLOAT_METRICS, empty_metrics
from .state import SimState

_ROW_METRICS = (
    "spend", "prompt_tokens", "completion_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "successful_requests", "failed_requests",
    "total_response_time_ms", "timed_requests",
)  # fmt: skip
_BREAKDOWNS = ("mcp_servers", "models", "model_groups", "providers", "endpoints", "entities")
UNATTRIBUTED = "unattributed"
NEVER_ENDING_PAGES = 1_000_000


def filter_rows(
    rows: Iterable[dict[str, Any]],
    *,
    start: str,
    end: str,
    user_id: str | None,
    api_key: str | None,
    model: str | None,
) -> list[dict[str, Any]]:
    """Rows with ``start <= date <= end`` (inclusive string compare) and exact filters."""
    if api_key is not None:
        if api_key == UNATTRIBUTED:
            api_key = ""
        elif api_key.startswith("raw:"):  # escape for literal "unattributed"/"raw:…" keys
            api_key = api_key[4:]
    out = []
    for r in rows:
        if not (start <= r["date"] <= end):
            continue
        if user_id is not None and r["user_id"] != user_id:
            continue
        if api_key is not None and (r["api_key"] or "") != api_key:
            continue
        if model is not None:
            if model == "unknown-model":
                if r["model"]:
                    continue
            elif r["model"] != model:
                continue
        out.append(r)
    return out


def _row_metrics(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A row's SpendMetrics, as the (field, value) pairs a row can make other than zero: adding
    the other fields' zeros (of each field's own type) would change no sum."""
    return (
        *((f, row[f]) for f in _ROW_METRICS),
        # Computed at read time: cache tokens are not part of total_tokens.
        ("total_tokens", row["prompt_tokens"] + row["completion_tokens"]),
        ("api_requests", row["successful_requests"] + row["failed_requests"]),
    )


def _add(into: dict[str, Any], m: Iterable[tuple[str, Any]]) -> None:
    for f, value in m:
        into[f] += value


class _Meta:
    """Resolves KeyMetadata / entity metadata once per response."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.cache: dict[str, dict[str, Any]] = {}

    def key(self, token: str) -> dict[str, Any]:
        if token not in self.cache:
            if token == UNATTRIBUTED:
                self.cache[token] = {
                    "key_alias": "Unattributed",
                    "team_id": None,
                    "user_id": None,
                    "user_email": None,
                    "key_exists": False,
                }
            else:
                self.cache[token] = self.state.key_meta(token)
        return dict(self.cache[token])


def _bucket(container: dict[str, Any], name: str, metadata: dict[str, Any]) -> dict[str, Any]:
    if name not in container:
        container[name] = {
            "metrics": empty_metrics(),
            "metadata": metadata,
            "api_key_breakdown": {},
        }
    return container[name]


def _key_entry(container: dict[str, Any], token: str, meta: _Meta) -> dict[str, Any]:
    if token not in container:
        container[token] = {"metrics": empty_metrics(), "metadata": meta.key(token)}
    return container[token]


def _day_entry(day: str) -> dict[str, Any]:
    # Key order as LiteLLM serializes BreakdownMetrics.
    order = ("mcp_servers", "models", "model_groups", "providers", "endpoints", "api_keys",
             "entities", "guardrails")  # fmt: skip
    return {"date": day, "metrics": empty_metrics(), "breakdown": {k: {} for k in order}}


def aggregate(rows: list[dict[str, Any]], state: SimState) -> list[dict[str, Any]]:
    """Group rows into per-date DailySpendData entries, newest date first."""
    meta = _Meta(state)
    # Before 1.110 an entity's metadata is empty; from 1.110 it names the LiteLLM user, who does
    # not exist for keys made by /key/generate (so both fields are null).
    entity_meta = (
        {"user_email": None, "user_alias": None} if state.supports("v1_110_fields") else {}
    )
    days: dict[str, dict[str, Any]] = {}
    for r in rows:
        day = days.get(r["date"]) or days.setdefault(r["date"], _day_entry(r["date"]))
        m = _row_metrics(r)
        token = r["api_key"] or UNATTRIBUTED
        _add(day["metrics"], m)
        bd = day["breakdown"]
        owner = r["user_id"] or "Unassigned"
        buckets = [
            (bd["models"], r["model"] or "unknown-model", {}),
            (bd["model_groups"], r["model_group"] or r["model"] or "unknown-model-group", {}),
            (bd["providers"], r["custom_llm_provider"] or "unknown", {}),
            (bd["endpoints"], r["endpoint"] or "unknown", {}),
            (bd["entities"], owner, dict(entity_meta)),
        ]
        if r["mcp_namespaced_tool_name"]:
            buckets.append((bd["mcp_servers"], r["mcp_namespaced_tool_name"], {}))
        for container, name, md in buckets:
            b = _bucket(container, name, md)
            _add(b["metrics"], m)
            _add(_key_entry(b["api_key_breakdown"], token, meta)["metrics"], m)
        _add(_key_entry(bd["api_keys"], token, meta)["metrics"], m)
    return [days[d] for d in sorted(days, reverse=True)]


def limit_api_keys(results: list[dict[str, Any]], limit: int) -> tuple[int, dict[str, int]]:
    """Keep only the ``limit`` keys with the highest spend over the WHOLE range in every per-key
    dict (aggregated, 1.106+): LiteLLM picks one top-N list and applies it to each day, so on a
    given day a key outside that list is missing even if it spent the most that day.

    Returns (distinct keys overall, distinct keys per entity) counted before trimming.
    """
    spend: dict[str, float] = {}
    per_entity: dict[str, set[str]] = {}
    for day in results:
        bd = day["breakdown"]
        for token, entry in bd["api_keys"].items():
            spend[token] = spend.get(token, 0.0) + entry["metrics"]["spend"]
        for ent, b in bd["entities"].items():
            per_entity.setdefault(ent, set()).update(b["api_key_breakdown"])
    ranked = sorted(spend, key=lambda token: (-spend[token], token))
    keep = set(ranked[:limit])

    def trim(d: dict[str, Any]) -> dict[str, Any]:
        return {token: entry for token, entry in d.items() if token in keep}

    for day in results:
        bd = day["breakdown"]
        bd["api_keys"] = trim(bd["api_keys"])
        for name in _BREAKDOWNS:
            for b in bd[name].values():
                b["api_key_breakdown"] = trim(b["api_key_breakdown"])
    return len(spend), {k: len(v) for k, v in per_entity.items()}


def totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    """DailySpendMetadata totals (without paging fields) summed over ``results``."""
    t = empty_metrics()
    for day in results:
        _add(t, day["metrics"].items())
    out: dict[str, Any] = {}
    for f in (
        "spend", "flat_cost", "ptu_hours", "prompt_tokens", "completion_tokens", "tokens",
        "api_requests", "successful_requests", "failed_requests", "cache_read_input_tokens",
        "cache_creation_input_tokens", "compression_saved_tokens", "compression_savings_spend",
        "prompt_caching_savings_spend", "gateway_injected_caching_savings_spend",
        "autorouter_savings_spend", "response_time_ms", "timed_requests",
    ):  # fmt: skip
        src = {"tokens": "total_tokens", "response_time_ms": "total_response_time_ms"}.get(f, f)
        out[f"total_{f}"] = float(t[src]) if src in FLOAT_METRICS else int(t[src])
    return out


def date_desc(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in LiteLLM's listing order: date descending, id ascending within a date."""
    ordered = sorted(rows, key=lambda r: r["id"])
    ordered.sort(key=lambda r: r["date"], reverse=True)  # stable: id asc within a date
    return ordered


def paginated(
    rows: list[dict[str, Any]], state: SimState, page: int, page_size: int, never_ending: bool
) -> dict[str, Any]:
    """SpendAnalyticsPaginatedResponse for one page of raw rows, given in listing order
    (:func:`date_desc`)."""
    ordered = rows
    chunk = ordered[(page - 1) * page_size : page * page_size]
    results = aggregate(chunk, state)
    total_pages = math.ceil(len(rows) / page_size)
    has_more = page * page_size < len(rows)
    if never_ending:
        total_pages, has_more = NEVER_ENDING_PAGES, True
    metadata = totals(results)
    metadata.update(
        page=page,
        total_pages=total_pages,
        has_more=has_more,
        api_key_limit=None,
        total_api_keys=None,
        entity_total_api_keys=None,
    )
    return {"results": results, "metadata": metadata}


def aggregated(
    rows: list[dict[str, Any]], state: SimState, api_key_limit: int | None
) -> dict[str, Any]:
    """SpendAnalyticsPaginatedResponse for the whole range in one page; ``api_key_limit`` None
    (releases before 1.106) keeps every key."""
    results = aggregate(rows, state)
    metadata = totals(results)  # totals before trimming keys: they cover all keys
    metadata.update(page=1, total_pages=1, has_more=False, api_key_limit=None,
                    total_api_keys=None, entity_total_api_keys=None)  # fmt: skip
    if api_key_limit is not None:
        total_keys, per_entity = limit_api_keys(results, api_key_limit)
        metadata.update(
            api_key_limit=api_key_limit,
            total_api_keys=total_keys,
            entity_total_api_keys=per_entity,
        )
    return {"results": results, "metadata": metadata}
