"""/user/daily/activity semantics: row paging, inclusive UTC dates, filters, breakdowns."""

from __future__ import annotations

import math

import pytest

METRIC_SUM_FIELDS = ("spend", "prompt_tokens", "completion_tokens", "total_tokens",
                     "successful_requests", "failed_requests", "api_requests",
                     "cache_read_input_tokens", "cache_creation_input_tokens")  # fmt: skip


@pytest.fixture
def usage(lsim):
    """alice: 2 keys; bob: 1 key; rows on Nov 1, 2, 3 and 5 (Nov 4 empty)."""
    a1 = lsim.add_key(key_alias="alice--laptop", user_id="alice@example.com")["token"]
    a2 = lsim.add_key(key_alias="alice--ci", user_id="alice@example.com")["token"]
    b1 = lsim.add_key(key_alias="bob--laptop", user_id="bob@example.com")["token"]
    n = 0
    for day in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"):
        for token in (a1, a2, b1):
            for model, provider in (("gpt-4o-mini", "openai"), ("claude-sonnet-4", "anthropic")):
                n += 1
                lsim.add_usage(
                    token=token, date=day, model=model, provider=provider, prompt_tokens=100 * n,
                    completion_tokens=10 * n, spend=0.001 * n, cache_read_input_tokens=n,
                    cache_creation_input_tokens=2 * n, successful_requests=n, failed_requests=n % 2,
                )  # fmt: skip
    return {"a1": a1, "a2": a2, "b1": b1, "rows": n}


def _all_pages(api, page_size, **params):
    pages, page = [], 1
    while True:
        status, body = api.get("/user/daily/activity", page=page, page_size=page_size, **params)
        assert status == 200, body
        pages.append(body)
        if not body["metadata"]["has_more"]:
            return pages
        page += 1


def _merge(pages):
    merged = {}
    for body in pages:
        for day in body["results"]:
            acc = merged.setdefault(day["date"], dict.fromkeys(METRIC_SUM_FIELDS, 0))
            for f in METRIC_SUM_FIELDS:
                acc[f] += day["metrics"][f]
    return merged


def test_row_pagination_splits_days_and_sums_to_aggregated(api, usage):
    rng = {"start_date": "2026-11-01", "end_date": "2026-11-30"}
    pages = _all_pages(api, 4, **rng)  # 6 rows per day → days split across pages
    assert len(pages) == math.ceil(usage["rows"] / 4) == pages[0]["metadata"]["total_pages"]
    dates_per_page = [[d["date"] for d in p["results"]] for p in pages]
    assert dates_per_page[0] == ["2026-11-05"]
    assert dates_per_page[1] == ["2026-11-05", "2026-11-03"]  # 11-05 split across pages 1–2
    agg = api.get("/user/daily/activity/aggregated", **rng)[1]
    merged = _merge(pages)
    assert sorted(merged, reverse=True) == [d["date"] for d in agg["results"]]
    for day in agg["results"]:
        for f in METRIC_SUM_FIELDS:
            assert merged[day["date"]][f] == pytest.approx(day["metrics"][f])
    # per-page metadata totals cover that page only
    for body in pages:
        page_spend = sum(d["metrics"]["spend"] for d in body["results"])
        assert body["metadata"]["total_spend"] == pytest.approx(page_spend)
    assert agg["metadata"]["total_spend"] == pytest.approx(sum(0.001 * n for n in range(1, 25)))
    assert (agg["metadata"]["page"], agg["metadata"]["total_pages"]) == (1, 1)
    assert agg["metadata"]["has_more"] is False


def test_page_order_is_date_desc_then_insertion(api, usage):
    body = api.get("/user/daily/activity", start_date="2026-11-01", end_date="2026-11-30",
                   page_size=6)[1]  # fmt: skip
    assert [d["date"] for d in body["results"]] == ["2026-11-05"]
    assert body["metadata"]["has_more"] is True and body["metadata"]["total_pages"] == 4


def test_inclusive_dates_newest_first_empty_days_absent(api, usage):
    body = api.get("/user/daily/activity", start_date="2026-11-02", end_date="2026-11-05")[1]
    assert [d["date"] for d in body["results"]] == ["2026-11-05", "2026-11-03", "2026-11-02"]
    one_day = api.get("/user/daily/activity", start_date="2026-11-03", end_date="2026-11-03")[1]
    assert [d["date"] for d in one_day["results"]] == ["2026-11-03"]
    empty = api.get("/user/daily/activity", start_date="2026-12-01", end_date="2026-12-31")[1]
    assert empty["results"] == [] and empty["metadata"]["total_pages"] == 0
    assert empty["metadata"]["has_more"] is False


def test_filters_user_key_model(api, usage):
    rng = {"start_date": "2026-11-01", "end_date": "2026-11-30"}
    body = api.get("/user/daily/activity/aggregated", user_id="alice@example.com", **rng)[1]
    keys = {k for d in body["results"] for k in d["breakdown"]["api_keys"]}
    assert keys == {usage["a1"], usage["a2"]}
    assert set(body["results"][0]["breakdown"]["entities"]) == {"alice@example.com"}
    body = api.get("/user/daily/activity", api_key=usage["b1"], **rng)[1]
    assert {k for d in body["results"] for k in d["breakdown"]["api_keys"]} == {usage["b1"]}
    body = api.get("/user/daily/activity", model="gpt-4o-mini", **rng)[1]
    assert {m for d in body["results"] for m in d["breakdown"]["models"]} == {"gpt-4o-mini"}
    assert api.get("/user/daily/activity", user_id="alice", **rng)[1]["results"] == []


def test_breakdown_shape_and_metadata(api, lsim, usage):
    day = api.get("/user/daily/activity", start_date="2026-11-05", end_date="2026-11-05",
                  user_id="alice@example.com")[1]["results"][0]  # fmt: skip
    m = day["metrics"]
    assert m["total_tokens"] == m["prompt_tokens"] + m["completion_tokens"]
    assert m["api_requests"] == m["successful_requests"] + m["failed_requests"]
    bd = day["breakdown"]
    assert set(bd["providers"]) == {"openai", "anthropic"}
    assert set(bd["endpoints"]) == {"/chat/completions"}
    assert bd["guardrails"] == {} and bd["mcp_servers"] == {}
    meta = bd["api_keys"][usage["a1"]]["metadata"]
    # /key/generate creates no LiteLLM user, so there is never an e-mail to join
    assert meta == {"key_alias": "alice--laptop", "team_id": None, "user_id": "alice@example.com",
                    "user_email": None, "key_exists": True}  # fmt: skip
    per_key = bd["models"]["gpt-4o-mini"]["api_key_breakdown"]
    assert set(per_key) == {usage["a1"], usage["a2"]}
    lsim.archive_key(usage["a1"])
    again = api.get("/user/daily/activity", start_date="2026-11-05", end_date="2026-11-05",
                    user_id="alice@example.com")[1]["results"][0]  # fmt: skip
    meta = again["breakdown"]["api_keys"][usage["a1"]]["metadata"]
    assert meta["key_exists"] is False and meta["key_alias"] == "alice--laptop"
    assert again["metrics"] == day["metrics"]  # usage rows stay after deletion


def test_unattributed_rows(api, lsim):
    lsim.add_usage(token="", date="2026-11-01", model=None, provider=None, prompt_tokens=5,
                   completion_tokens=5, spend=0.1, user_id="")  # fmt: skip
    body = api.get("/user/daily/activity", start_date="2026-11-01", end_date="2026-11-01",
                   api_key="unattributed")[1]  # fmt: skip
    bd = body["results"][0]["breakdown"]
    assert bd["api_keys"]["unattributed"]["metadata"]["key_alias"] == "Unattributed"
    assert list(bd["entities"]) == ["Unassigned"] and list(bd["models"]) == ["unknown-model"]


def test_aggregated_api_key_limit(api, usage):
    body = api.get("/user/daily/activity/aggregated", start_date="2026-11-01",
                   end_date="2026-11-30", api_key_limit=1)[1]  # fmt: skip
    assert body["metadata"]["total_api_keys"] == 3 and body["metadata"]["api_key_limit"] == 1
    assert body["metadata"]["entity_total_api_keys"] == {"alice@example.com": 2,
                                                         "bob@example.com": 1}  # fmt: skip
    for day in body["results"]:
        assert len(day["breakdown"]["api_keys"]) == 1
        top = day["breakdown"]["api_keys"]
        assert list(top) == [usage["b1"]]  # highest spend (rows added last)
    assert api.get("/user/daily/activity/aggregated", start_date="2026-11-01",
                   end_date="2026-11-01", api_key_limit=1001)[0] == 422  # fmt: skip


def test_timezone_ignored_unless_include_current_utc_day(api, lsim, usage, monkeypatch):
    from datetime import UTC, datetime

    from app.litellm_sim import activity_routes

    # 05:00 UTC on Nov 20 is still Nov 19 in PST (timezone=480).
    monkeypatch.setattr(activity_routes, "utcnow", lambda: datetime(2026, 11, 20, 5, tzinfo=UTC))
    lsim.add_usage(token=usage["a1"], date="2026-11-20", model="m", provider="p",
                   prompt_tokens=1, completion_tokens=1, spend=1.0)  # fmt: skip
    rng = {"start_date": "2026-11-19", "end_date": "2026-11-19"}
    assert api.get("/user/daily/activity", **rng)[1]["results"] == []
    assert api.get("/user/daily/activity", timezone=480, **rng)[1]["results"] == []
    body = api.get("/user/daily/activity", timezone=480, include_current_utc_day="true", **rng)[1]
    assert [d["date"] for d in body["results"]] == ["2026-11-20"]
    old = {"start_date": "2026-11-01", "end_date": "2026-11-01"}  # historical: never extended
    body = api.get("/user/daily/activity", timezone=480, include_current_utc_day="true", **old)[1]
    assert [d["date"] for d in body["results"]] == ["2026-11-01"]
    assert api.get("/user/daily/activity", timezone="PST", **rng)[0] == 422


def test_ignore_user_filter_switch(api, usage, lsim):
    lsim.set_ignore_user_filter(True)
    body = api.get("/user/daily/activity", start_date="2026-11-01", end_date="2026-11-30",
                   user_id="alice@example.com", page_size=1000)[1]  # fmt: skip
    entities = {e for d in body["results"] for e in d["breakdown"]["entities"]}
    assert entities == {"alice@example.com", "bob@example.com"}
