"""LiteLLMClient: parsing of LiteLLM payloads (1.110.2 examples, 1.70 and 1.65 shapes),
pagination, merging and the aggregated → paginated fallback. LiteLLM is faked with `responses`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from app.services.litellm import (
    METRIC_NAMES,
    DailyActivity,
    LiteLLMBadResponse,
    LiteLLMClient,
    LiteLLMSettings,
    LiteLLMTooLarge,
    Metrics,
)

# Copies of ../shared/litellm/examples kept in the repository (see tests/sim/conftest.py).
EXAMPLES = Path(__file__).resolve().parent.parent / "sim" / "contract"
BASE = "http://litellm.test"
MASTER = "sk-master-Parsing0123456789"
H1 = hashlib.sha256(b"sk-one").hexdigest()
H2 = hashlib.sha256(b"sk-two").hexdigest()


@pytest.fixture
def client():
    c = LiteLLMClient(LiteLLMSettings(BASE, MASTER, backoff_factor=0, max_pages=5))
    yield c
    c.close()


@pytest.fixture(scope="module")
def keys_example():
    return json.loads((EXAMPLES / "keys.json").read_text())


@pytest.fixture(scope="module")
def activity_example():
    return json.loads((EXAMPLES / "user-daily-activity.json").read_text())


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def m(**values) -> dict:
    """A 1.110-style SpendMetrics dict with the given non-zero values."""
    return {**dict.fromkeys(METRIC_NAMES, 0), "flat_cost": 0.0, **values}


def day(date: str, per_key: dict[str, dict], model: str = "gpt-4o-mini") -> dict:
    """A DailySpendData with one model and the given per-key metrics."""
    total = {n: sum(k.get(n, 0) for k in per_key.values()) for n in METRIC_NAMES}
    keys = {
        h: {"metrics": v, "metadata": {"key_alias": f"alias-{h[:4]}"}} for h, v in per_key.items()
    }
    return {
        "date": date,
        "metrics": total,
        "breakdown": {
            "models": {model: {"metrics": total, "metadata": {}, "api_key_breakdown": keys}},
            "providers": {"openai": {"metrics": total, "metadata": {}, "api_key_breakdown": keys}},
            "api_keys": keys,
        },
    }


def activity(results, *, has_more=False, page=1, **meta) -> dict:
    return {"results": results, "metadata": {"page": page, "has_more": has_more, **meta}}


def key_obj(token: str, user_id: str, alias: str) -> dict:
    return {"token": token, "user_id": user_id, "key_alias": alias, "spend": 1.5, "models": []}


# --------------------------------------------------------------------------- keys


def test_key_list_full_object_example_is_parsed(client, rsps, keys_example):
    body = keys_example["GET /key/list?return_full_object=true"]
    rsps.get(f"{BASE}/key/list", json=body)

    result = client.list_keys("user-123")

    assert result.pages == 1 and result.total_count == 1 and len(result) == 1
    key = result.keys[0]
    assert key.token == "2ee82ae1e3491c757f7a9f317340d749fd8b02365feb5103f751729278da09d8"
    assert key.key_alias == "portal-alice-laptop" and key.key_name == "sk-...yBnA"
    assert key.user_id == "user-123" and key.spend == 1.2345 and key.max_budget == 10.0
    assert key.models == ("gpt-4o-mini",) and key.metadata["portal"] == "flask"
    assert key.expires is None and key.blocked is False
    assert key.created_at == dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    q = query(rsps.calls[0])
    assert q == {
        "return_full_object": ["true"],
        "size": ["100"],
        "page": ["1"],
        "user_id": ["user-123"],
    }


def test_key_list_hash_only_mode_is_a_bad_response(client, rsps, keys_example):
    # A proxy that ignores return_full_object gives hashes only: owners cannot be verified.
    rsps.get(
        f"{BASE}/key/list", json=keys_example["GET /key/list (default, return_full_object=false)"]
    )
    with pytest.raises(LiteLLMBadResponse, match="return_full_object"):
        client.list_keys("user-123")


def test_key_list_follows_pages_dedups_and_filters_exactly(client, rsps):
    # LiteLLM 1.84–1.89 matched user_id by substring: alice2's key must not come back.
    a1, a2, a3 = (hashlib.sha256(s.encode()).hexdigest() for s in ("a1", "a2", "a3"))
    other = hashlib.sha256(b"other").hexdigest()
    pages = [
        [key_obj(a1, "alice", "alice--laptop"), key_obj(other, "alice2", "alice2--x")],
        [key_obj(a1, "alice", "alice--laptop"), key_obj(a2, "alice", "alice--phone")],
        [key_obj(a3, "alice", "alice--ci")],
    ]
    for n, items in enumerate(pages, start=1):
        rsps.get(
            f"{BASE}/key/list",
            json={"keys": items, "total_count": 5, "current_page": n, "total_pages": 3},
            match=[responses.matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )

    result = client.list_keys("alice")

    assert [k.token for k in result] == [a1, a2, a3]
    assert result.pages == 3 and result.total_count == 5
    assert all(k.user_id == "alice" for k in result)


def test_key_list_alias_filter_is_rechecked(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        json={
            "keys": [key_obj(H1, "u", "laptop"), key_obj(H2, "u", "laptop-old")],
            "total_count": 2,
            "current_page": 1,
            "total_pages": 1,
        },
    )
    result = client.list_keys("u", key_alias="laptop")
    assert [k.token for k in result] == [H1]
    assert query(rsps.calls[0])["key_alias"] == ["laptop"]


def test_iter_key_pages_sweeps_without_user_id_and_counts_pages(client, rsps):
    for n in (1, 2):
        rsps.get(
            f"{BASE}/key/list",
            json={
                "keys": [key_obj(H1 if n == 1 else H2, f"u{n}", f"k{n}")],
                "total_count": 2,
                "current_page": n,
                "total_pages": 2,
            },
            match=[responses.matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )
    pages = list(client.iter_key_pages())
    assert [p.page for p in pages] == [1, 2]
    assert [p.keys[0].user_id for p in pages] == ["u1", "u2"]
    assert "user_id" not in query(rsps.calls[0])
    assert len(rsps.calls) == 2


def test_key_list_stops_on_empty_page(client, rsps):
    rsps.get(
        f"{BASE}/key/list", json={"keys": [], "total_count": 0, "current_page": 1, "total_pages": 0}
    )
    result = client.list_keys("nobody")
    assert result.keys == () and result.pages == 1


def test_never_ending_key_list_is_a_bad_response(client, rsps):
    # total_pages keeps growing with every page: stop at max_pages (5) instead of looping.
    for n in range(1, 6):
        rsps.get(
            f"{BASE}/key/list",
            json={
                "keys": [key_obj(f"{n:064x}", "u", f"k{n}")],
                "total_count": 100 * n,
                "current_page": n,
                "total_pages": n + 1,
            },
            match=[responses.matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )
    with pytest.raises(LiteLLMBadResponse, match="6 pages, more than LITELLM_MAX_PAGES=5"):
        client.list_keys("u")
    assert len(rsps.calls) == 5


def test_key_list_without_totals_stops_after_max_pages(client, rsps):
    # A shape without total_pages whose pages are always full: give up after max_pages.
    full = [key_obj(f"{i:064x}", "u", f"k{i}") for i in range(100)]
    rsps.get(f"{BASE}/key/list", json={"keys": full})
    with pytest.raises(LiteLLMBadResponse, match="did not end after 5 pages"):
        client.list_keys("u")
    assert len(rsps.calls) == 5


def test_key_list_with_too_many_pages_fails_fast(client, rsps):
    rsps.get(
        f"{BASE}/key/list",
        json={
            "keys": [key_obj(H1, "u", "k")],
            "total_count": 10_000,
            "current_page": 1,
            "total_pages": 100,
        },
    )
    with pytest.raises(LiteLLMBadResponse, match="100 pages"):
        client.list_keys(None)
    assert len(rsps.calls) == 1


def test_generate_response_example_is_parsed(client, rsps, keys_example):
    body = keys_example["POST /key/generate response"]
    rsps.post(f"{BASE}/key/generate", json=body)

    key = client.generate_key(
        key_alias="portal-alice-laptop", user_id="user-123", models=["gpt-4o-mini"], max_budget=10.0
    )

    assert key.secret == "sk-Xq3v9Lw2Kd8PzR1mT6yBnA"
    assert key.token_id == hashlib.sha256(key.secret.encode()).hexdigest()
    assert key.key_name == "sk-...yBnA" and key.user_id == "user-123" and key.max_budget == 10.0
    assert key.secret not in repr(key)
    sent = json.loads(rsps.calls[0].request.body)
    assert sent == {
        "key_alias": "portal-alice-laptop",
        "user_id": "user-123",
        "models": ["gpt-4o-mini"],
        "metadata": {},
        "max_budget": 10.0,
    }


def test_generate_with_wrong_token_id_is_rejected(client, rsps):
    rsps.post(f"{BASE}/key/generate", json={"key": "sk-abcdefgh12345678", "token_id": H1})
    with pytest.raises(LiteLLMBadResponse, match="token_id does not match"):
        client.generate_key(key_alias="a", user_id="u")


def test_generate_1_65_style_token_holds_raw_key(client, rsps):
    # 1.65 put the raw key in `token` and had no token_id: compute sha256 ourselves.
    secret = "sk-oldstyle1234567890"
    rsps.post(f"{BASE}/key/generate", json={"key": secret, "token": secret, "key_alias": "a"})
    key = client.generate_key(key_alias="a", user_id="u")
    assert key.token_id == hashlib.sha256(secret.encode()).hexdigest()


def test_generate_without_token_id_accepts_matching_hash_token(client, rsps):
    secret = "sk-hashtoken12345678"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    rsps.post(f"{BASE}/key/generate", json={"key": secret, "token": digest})
    assert client.generate_key(key_alias="a", user_id="u").token_id == digest


# --------------------------------------------------------------------------- usage


def test_daily_activity_example_is_parsed(client, rsps, activity_example):
    rsps.get(f"{BASE}/user/daily/activity/aggregated", json=activity_example)

    result = client.daily_activity(dt.date(2026, 11, 25), dt.date(2026, 11, 25), user_id="user-123")

    assert isinstance(result, DailyActivity)
    assert result.endpoint == "aggregated" and result.pages == 1
    assert not result.from_cache and not result.stale and not result.truncated_key_lists
    (d,) = result.days
    assert d.date == dt.date(2026, 11, 25)
    assert d.metrics.spend == pytest.approx(0.01386) and d.metrics.api_requests == 6
    assert d.metrics.cache_creation_input_tokens == 1024 and d.metrics.failed_requests == 1
    assert set(d.models) == {"gpt-4o-mini", "claude-sonnet-4-5-20250929"}
    assert set(d.providers) == {"openai", "anthropic"}
    token = "6598efda2946780cd8d5e063e9b1c5c04fddf7a4bd6a64848fadb606f2d01adf"
    assert d.models["claude-sonnet-4-5-20250929"].api_key_breakdown[token].spend == pytest.approx(
        0.0135
    )
    entry = d.api_keys[token]
    assert entry.key_alias == "portal-alice-laptop" and entry.user_id == "user-123"
    assert entry.key_exists is True and entry.metrics.total_tokens == 4000
    assert result.totals == d.metrics
    assert result.fetched_at.tzinfo is not None
    q = query(rsps.calls[0])
    assert q["start_date"] == ["2026-11-25"] and q["end_date"] == ["2026-11-25"]
    assert q["user_id"] == ["user-123"] and "timezone" not in q


def test_daily_activity_1_70_shape(client, rsps):
    # 1.70: metrics/metadata wrappers, no api_key_breakdown, fewer metrics, KeyMetadata small.
    body = {
        "results": [
            {
                "date": "2025-05-20",
                "metrics": {
                    "spend": 1.0,
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "total_tokens": 15,
                    "api_requests": 2,
                    "successful_requests": 2,
                },
                "breakdown": {
                    "models": {
                        "gpt-4o": {"metrics": {"spend": 1.0, "api_requests": 2}, "metadata": {}}
                    },
                    "providers": {"openai": {"metrics": {"spend": 1.0}, "metadata": {}}},
                    "api_keys": {
                        H1: {
                            "metrics": {"spend": 1.0, "api_requests": 2},
                            "metadata": {"key_alias": "k1", "team_id": None},
                        }
                    },
                    "entities": {},
                },
            }
        ],
        "metadata": {"total_spend": 1.0, "page": 1, "total_pages": 1, "has_more": False},
    }
    rsps.get(f"{BASE}/user/daily/activity/aggregated", json=body)
    result = client.daily_activity(dt.date(2025, 5, 20), dt.date(2025, 5, 20))
    d = result.days[0]
    assert d.models["gpt-4o"].metrics.api_requests == 2
    assert d.models["gpt-4o"].api_key_breakdown == {}
    assert d.api_keys[H1].key_alias == "k1" and d.api_keys[H1].user_id is None
    assert d.api_keys[H1].key_exists is None
    assert d.metrics.cache_read_input_tokens == 0 and d.metrics.failed_requests == 0


def test_daily_activity_1_65_shape_with_bare_metrics(client, rsps):
    # 1.65: breakdown values are bare metrics, no wrapper; only 5 metrics exist.
    body = {
        "results": [
            {
                "date": "2025-03-28",
                "metrics": {
                    "spend": 0.5,
                    "prompt_tokens": 7,
                    "completion_tokens": 3,
                    "total_tokens": 10,
                    "api_requests": 1,
                },
                "breakdown": {
                    "models": {"gpt-4": {"spend": 0.5, "api_requests": 1}},
                    "providers": {"openai": {"spend": 0.5}},
                    "api_keys": {H1: {"spend": 0.5, "total_tokens": 10}},
                },
            }
        ],
        "metadata": {"total_spend": 0.5, "page": 1, "total_pages": 1, "has_more": False},
    }
    rsps.get(f"{BASE}/user/daily/activity/aggregated", status=404, json={"detail": "Not Found"})
    rsps.get(f"{BASE}/user/daily/activity", json=body)
    result = client.daily_activity(dt.date(2025, 3, 28), dt.date(2025, 3, 28))
    d = result.days[0]
    assert result.endpoint == "paginated"
    assert d.models["gpt-4"].metrics.spend == 0.5 and d.models["gpt-4"].api_key_breakdown == {}
    assert d.api_keys[H1].metrics.total_tokens == 10 and d.api_keys[H1].key_alias is None
    assert result.totals == Metrics(
        spend=0.5, prompt_tokens=7, completion_tokens=3, total_tokens=10, api_requests=1
    )


def test_paginated_merges_split_days_and_computes_totals(client, rsps):
    client.usage_days.aggregated_unavailable = True
    # Day 2026-11-25 is split across pages 1 and 2 (rows, not days, are paginated). The
    # metadata totals are per page and deliberately wrong: the client must not use them.
    page1 = activity(
        [
            day("2026-11-26", {H1: m(spend=1.0, api_requests=1)}),
            day("2026-11-25", {H1: m(spend=2.0, api_requests=2, total_tokens=20)}),
        ],
        has_more=True,
        total_spend=999.0,
        total_pages=2,
    )
    page2 = activity(
        [
            day("2026-11-25", {H2: m(spend=4.0, api_requests=4, total_tokens=40)}),
            day("2026-11-24", {H1: m(spend=8.0, api_requests=8)}),
        ],
        page=2,
        total_spend=999.0,
        total_pages=2,
    )
    for n, body in ((1, page1), (2, page2)):
        rsps.get(
            f"{BASE}/user/daily/activity",
            json=body,
            match=[responses.matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )

    result = client.daily_activity(dt.date(2026, 11, 24), dt.date(2026, 11, 26), user_id="u")

    assert result.endpoint == "paginated" and result.pages == 2
    assert [d.date.day for d in result.days] == [24, 25, 26]  # ascending
    d25 = result.days[1]
    assert d25.metrics.spend == 6.0 and d25.metrics.total_tokens == 60
    assert set(d25.api_keys) == {H1, H2}
    assert d25.models["gpt-4o-mini"].metrics.api_requests == 6
    assert d25.models["gpt-4o-mini"].api_key_breakdown[H2].spend == 4.0
    assert result.totals.spend == 15.0 and result.totals.api_requests == 15
    for call in rsps.calls:
        q = query(call)
        assert q["page_size"] == ["1000"] and "timezone" not in q


def test_aggregated_404_fallback_is_remembered(client, rsps):
    agg = rsps.get(
        f"{BASE}/user/daily/activity/aggregated", status=404, json={"detail": "Not Found"}
    )
    pag = rsps.get(
        f"{BASE}/user/daily/activity", json=activity([day("2026-11-01", {H1: m(spend=1)})])
    )

    first = client.daily_activity(dt.date(2026, 11, 1), dt.date(2026, 11, 1))
    second = client.daily_activity(dt.date(2026, 11, 2), dt.date(2026, 11, 2))

    assert first.endpoint == second.endpoint == "paginated"
    assert agg.call_count == 1  # the second call went straight to the paginated endpoint
    assert pag.call_count == 2
    assert all("timezone" not in query(c) for c in rsps.calls)


def test_never_ending_activity_pagination_is_refused_as_too_large(client, rsps):
    client.usage_days.aggregated_unavailable = True
    rsps.get(f"{BASE}/user/daily/activity", json=activity([], has_more=True))
    with pytest.raises(LiteLLMTooLarge, match="adding pages past 5"):
        client.daily_activity(dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert len(rsps.calls) == 5


def test_cut_key_lists_are_fetched_again_from_the_rows_endpoint(client, rsps):
    # LiteLLM says 150 keys had usage but listed one: the per-key figures would be wrong.
    body = activity([day("2026-11-01", {H1: m(spend=1)})], total_api_keys=150, api_key_limit=1000)
    rsps.get(f"{BASE}/user/daily/activity/aggregated", json=body)
    rows = activity([day("2026-11-01", {H1: m(spend=1), H2: m(spend=2)})])
    rsps.get(f"{BASE}/user/daily/activity", json=rows)
    result = client.daily_activity(dt.date(2026, 11, 1), dt.date(2026, 11, 1))
    again = client.daily_activity(dt.date(2026, 11, 2), dt.date(2026, 11, 2))
    assert result.truncated_key_lists is False and result.endpoint == "paginated"
    assert set(result.days[0].api_keys) == {H1, H2} and result.pages == 2
    assert query(rsps.calls[0])["api_key_limit"] == ["1000"]
    # The same filters go to the rows endpoint directly from then on.
    assert again.endpoint == "paginated" and len(rsps.calls) == 3


def test_activity_with_wrong_shape_is_a_bad_response(client, rsps):
    rsps.get(f"{BASE}/user/daily/activity/aggregated", json={"data": []})
    with pytest.raises(LiteLLMBadResponse, match="results"):
        client.daily_activity(dt.date(2026, 11, 1), dt.date(2026, 11, 1))


def test_metrics_arithmetic():
    a = Metrics(spend=1.5, api_requests=2)
    assert a + Metrics() == a
    assert (a + a).to_dict()["spend"] == 3.0
    assert list(a.to_dict()) == list(METRIC_NAMES)


def test_an_aggregated_answer_too_slow_to_add_up_is_read_from_the_rows_instead(client, rsps):
    rsps.get(f"{BASE}/user/daily/activity/aggregated", body=requests.exceptions.ReadTimeout())
    rows = activity([day("2026-11-01", {H1: m(spend=1)}), day("2026-11-02", {H2: m(spend=2)})])
    rsps.get(f"{BASE}/user/daily/activity", json=rows)
    result = client.daily_activity(dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    again = client.daily_activity(dt.date(2026, 10, 1), dt.date(2026, 10, 2))
    assert result.endpoint == again.endpoint == "paginated" and result.totals.spend == 3.0
    # One aggregated try (not retried after a read timeout), then rows only for these filters.
    assert [urlsplit(c.request.url).path for c in rsps.calls] == [
        "/user/daily/activity/aggregated",
        "/user/daily/activity",
        "/user/daily/activity",
    ]
