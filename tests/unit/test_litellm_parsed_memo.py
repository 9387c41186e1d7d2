"""Warm reads decode nothing twice: usage days (the day cache's memo) and key lists (the parsed
memo of cached answers) are decoded once per process and shared while their bytes are the same.

LiteLLM is faked with ``responses``; the client uses the in-memory cache unless a test needs the
SQLite one (where every read returns fresh bytes, as in production).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
import responses
from client_support import BASE, make_client

from app.services.litellm import build_cache_backend
from app.services.litellm import day_cache as day_cache_module
from app.services.litellm.cache import MISSING, ParsedMemo
from tests.day_cache_support import expire_usage_days

AGG = f"{BASE}/user/daily/activity/aggregated"
KEY_LIST = f"{BASE}/key/list"
H1 = hashlib.sha256(b"sk-one").hexdigest()
H2 = hashlib.sha256(b"sk-two").hexdigest()
DAY = dt.date(2026, 11, 25)


def body(token: str, spend: float, date: str = "2026-11-25") -> dict:
    """An /aggregated body with one day, one model and one key."""
    metrics = {"spend": spend, "total_tokens": 10}
    entry = {"metrics": metrics, "metadata": {}, "api_key_breakdown": {token: {"metrics": metrics}}}
    return {
        "results": [
            {
                "date": date,
                "metrics": metrics,
                "breakdown": {
                    "models": {"gpt-4o": entry},
                    "providers": {"openai": entry},
                    "api_keys": {token: {"metrics": metrics, "metadata": {"key_alias": "a"}}},
                },
            }
        ],
        "metadata": {"has_more": False},
    }


@pytest.fixture
def decodes(monkeypatch):
    """Count the days the day cache decodes from stored bytes."""
    calls: list[str] = []
    real = day_cache_module._decode_day

    def spy(date, raw):
        calls.append(date)
        return real(date, raw)

    monkeypatch.setattr(day_cache_module, "_decode_day", spy)
    return calls


def spend_of(activity, token: str) -> float:
    return sum(d.api_keys[token].metrics.spend for d in activity.days if token in d.api_keys)


# --------------------------------------------------------------------------- the day cache


def test_warm_reads_decode_a_day_once(client, rsps, decodes):
    rsps.get(AGG, json=body(H1, 2.0))
    fresh = client.daily_activity(DAY, DAY, api_key=H1)
    first = client.daily_activity(DAY, DAY, api_key=H1)
    again = [client.daily_activity(DAY, DAY, api_key=H1) for _ in range(5)]

    assert len(decodes) == 1 and client.usage_days.cache.memo.hits == 5
    assert not fresh.from_cache and all(a.from_cache and not a.stale for a in again)
    assert all(a.days[0] is first.days[0] and a.totals == first.totals for a in again)
    assert spend_of(again[-1], H1) == 2.0 and len(rsps.calls) == 1


def test_sqlite_day_cache_reads_decode_once(tmp_path, rsps, decodes):
    backend = build_cache_backend(f"sqlite:///{tmp_path}/cache.sqlite", str(tmp_path))
    client = make_client(cache_backend=backend)
    try:
        rsps.get(AGG, json=body(H1, 2.0))
        for _ in range(4):
            client.daily_activity(DAY, DAY, api_key=H1)
        assert len(decodes) == 1 and client.usage_days.cache.memo.hits == 2
        assert len(rsps.calls) == 1
    finally:
        client.close()


def test_two_keys_with_the_same_dates_never_share_a_day(client, rsps):
    rsps.get(AGG, json=body(H1, 1.0), match=[responses.matchers.query_param_matcher(
        {"start_date": "2026-11-25", "end_date": "2026-11-25", "api_key": H1,
         "api_key_limit": "1000"})])  # fmt: skip
    rsps.get(AGG, json=body(H2, 7.0), match=[responses.matchers.query_param_matcher(
        {"start_date": "2026-11-25", "end_date": "2026-11-25", "api_key": H2,
         "api_key_limit": "1000"})])  # fmt: skip
    for _ in range(3):
        a = client.daily_activity(DAY, DAY, api_key=H1)
        b = client.daily_activity(DAY, DAY, api_key=H2)
        assert spend_of(a, H1) == 1.0 and H2 not in a.key_hashes()
        assert spend_of(b, H2) == 7.0 and H1 not in b.key_hashes()
    assert len(rsps.calls) == 2 and len(client.usage_days.cache.memo) == 2


def test_identical_answers_for_two_users_are_still_two_entries(client, rsps):
    rsps.get(AGG, json=body(H1, 1.0))  # the same bytes for both filters
    for user in ("alice", "bob", "alice", "bob"):
        client.daily_activity(DAY, DAY, user_id=user)
    assert len(rsps.calls) == 2 and len(client.usage_days.cache.memo) == 2


def test_force_refresh_yields_the_new_data(client, rsps):
    rsps.get(AGG, json=body(H1, 1.0))
    rsps.get(AGG, json=body(H1, 5.0))
    client.daily_activity(DAY, DAY, api_key=H1)
    assert spend_of(client.daily_activity(DAY, DAY, api_key=H1), H1) == 1.0  # held

    refreshed = client.daily_activity(DAY, DAY, api_key=H1, force_refresh=True)
    after = client.daily_activity(DAY, DAY, api_key=H1)

    assert spend_of(refreshed, H1) == 5.0 and not refreshed.from_cache
    assert spend_of(after, H1) == 5.0 and after.from_cache  # not the old memo entry
    assert len(rsps.calls) == 2


def test_an_expired_day_is_fetched_and_decoded_afresh(client, rsps, decodes):
    rsps.get(AGG, json=body(H1, 1.0))
    rsps.get(AGG, json=body(H1, 3.0))
    client.daily_activity(DAY, DAY, api_key=H1)
    client.daily_activity(DAY, DAY, api_key=H1)
    expire_usage_days(client)

    fresh = client.daily_activity(DAY, DAY, api_key=H1)
    cached = client.daily_activity(DAY, DAY, api_key=H1)

    assert spend_of(fresh, H1) == 3.0 and spend_of(cached, H1) == 3.0
    assert len(rsps.calls) == 2 and len(decodes) == 3  # first read, the expired one, the new


def test_stale_fallback_is_marked_stale(client, rsps):
    rsps.get(AGG, json=body(H1, 2.0))
    client.daily_activity(DAY, DAY, api_key=H1)
    warm = client.daily_activity(DAY, DAY, api_key=H1)
    expire_usage_days(client)
    rsps.get(AGG, status=503, body="")

    stale = client.daily_activity(DAY, DAY, api_key=H1)

    assert stale.stale is True and stale.from_cache is True
    assert stale.days == warm.days and stale.fetched_at == warm.fetched_at
    assert warm.stale is False and client.stats.stale_served == 1


def test_a_bad_shape_is_a_bad_response_and_not_kept(client, rsps):
    from app.services.litellm import LiteLLMBadResponse

    rsps.get(AGG, json={"results": "nope"})
    for _ in range(2):
        with pytest.raises(LiteLLMBadResponse):
            client.daily_activity(DAY, DAY, api_key=H1)
    assert len(rsps.calls) == 2 and len(client.usage_days.cache.memo) == 0


def test_shared_results_are_read_only(client, rsps):
    rsps.get(AGG, json=body(H1, 2.0))
    client.daily_activity(DAY, DAY, api_key=H1)
    (day,) = client.daily_activity(DAY, DAY, api_key=H1).days
    with pytest.raises(TypeError):
        day.api_keys[H2] = day.api_keys[H1]  # type: ignore[index]
    with pytest.raises(TypeError):
        day.models["gpt-4o"].api_key_breakdown[H2] = day.models["gpt-4o"].metrics  # type: ignore
    with pytest.raises(TypeError):
        del day.providers["openai"]  # type: ignore[attr-defined]


def test_concurrent_warm_reads_share_one_decode(client, rsps, decodes):
    rsps.get(AGG, json=body(H1, 2.0))
    client.daily_activity(DAY, DAY, api_key=H1)
    client.daily_activity(DAY, DAY, api_key=H1)
    results, errors = [], []

    def view():
        try:
            for _ in range(20):
                results.append(spend_of(client.daily_activity(DAY, DAY, api_key=H1), H1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=view) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == [] and results == [2.0] * 120
    assert len(decodes) == 1 and len(rsps.calls) == 1


# --------------------------------------------------------------------------- key lists

KEY_PAGE = {"keys": [], "total_count": 0, "current_page": 1, "total_pages": 0}


def test_key_list_memo_is_bounded(rsps):
    client = make_client(parsed_memo_size=2)
    try:
        rsps.get(KEY_LIST, json=KEY_PAGE)
        for user in ("a", "b", "c", "a", "b", "c"):
            client.list_keys(user)
        assert len(client.http.parsed_memo) == 2
    finally:
        client.close()


def test_memo_size_zero_disables_it(rsps):
    client = make_client(parsed_memo_size=0)
    try:
        rsps.get(KEY_LIST, json=KEY_PAGE)
        for _ in range(3):
            client.list_keys("a")
        assert len(client.http.parsed_memo) == 0 and client.http.parsed_memo.hits == 0
    finally:
        client.close()


# --------------------------------------------------------------------------- ParsedMemo


def test_memo_evicts_the_least_recently_used():
    memo = ParsedMemo(maxsize=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # "b" is now the least recently used
    memo.put("c", 3)
    assert "b" not in memo and memo.get("a") == 1 and memo.get("c") == 3
    assert memo.get("b") is MISSING
    assert (memo.hits, memo.misses) == (3, 1) and len(memo) == 2


def test_memo_rejects_a_negative_size():
    with pytest.raises(ValueError):
        ParsedMemo(-1)


def test_memo_stays_bounded_under_threads():
    memo = ParsedMemo(maxsize=16)
    errors = []

    def work(n: int):
        try:
            for i in range(500):
                memo.put((n, i % 40), i)
                value = memo.get((n, (i * 7) % 40))
                assert value is MISSING or isinstance(value, int)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(memo) == 16
    assert memo.hits + memo.misses == 8 * 500


def test_metrics_addition_keeps_every_counter_apart():
    # Metrics.__add__ is spelled out field by field (hot path): each counter must land in its own.
    from app.services.litellm import METRIC_NAMES, Metrics

    a = Metrics(**{n: i + 1 for i, n in enumerate(METRIC_NAMES)})
    b = Metrics(**{n: 10 * (i + 1) for i, n in enumerate(METRIC_NAMES)})
    assert (a + b).to_dict() == {n: 11 * (i + 1) for i, n in enumerate(METRIC_NAMES)}
    assert Metrics.sum([a, b, a]).to_dict() == {n: 12 * (i + 1) for i, n in enumerate(METRIC_NAMES)}
    assert Metrics.sum([]) == Metrics()


def test_a_weight_budget_keeps_many_light_entries_or_few_heavy_ones():
    memo = ParsedMemo(100, max_weight=1_000)
    for n in range(50):
        memo.put(("light", n), n, weight=10)
    assert len(memo) == 50 and memo.weight == 500  # all of them: 500 of 1,000
    memo.put("heavy", "org", weight=700)  # the oldest light entries make room
    assert memo.get("heavy") == "org" and memo.weight <= 1_000
    assert memo.get(("light", 0)) is MISSING and memo.get(("light", 49)) == 49
    assert len(memo) == 1 + 30
    memo.put("too heavy", "x", weight=1_001)  # heavier than the budget: never kept
    assert memo.get("too heavy") is MISSING and memo.get("heavy") == "org"
    memo.put("heavy", "org again", weight=100)  # a new value of a key weighs anew
    assert memo.weight == 100 + 30 * 10
    memo.clear()
    assert len(memo) == 0 and memo.weight == 0
