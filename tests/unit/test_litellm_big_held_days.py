"""An organisation's held days on every day store: a read learns each day's fetch and freshness
from the head of its entry, decodes the figures only when a report uses them, and ending
their freshness ("Refresh now") rewrites them as they are, without decoding them.

On memory, a SQLite file and Redis (``TEST_REDIS_URL``, started by scripts/test).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
import redis

from app.services.litellm import day_cache as day_cache_module
from app.services.litellm.day_cache import UsageDayCache
from app.services.litellm.day_store import MemoryDayStore, RedisDayStore, SQLiteDayStore
from app.services.litellm.errors import LiteLLMBadResponse
from app.services.litellm.settings import LiteLLMSettings
from app.services.litellm.usage_results import BreakdownEntry, DayActivity, KeyUsageEntry, Metrics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "production"))
from prod_support import allocate_redis_url, required_env  # noqa: E402

TODAY = dt.datetime.now(dt.UTC).date()
PAST = TODAY - dt.timedelta(days=3)
FILTERS = {"user_id": "org"}


def _organisation_day(date: dt.date, keys: int = 600) -> DayActivity:
    """A day of ``keys`` keys on one model: well above the size memoised decoded."""
    per_key = {
        f"{n:064x}": Metrics(spend=0.001 * n, prompt_tokens=n, total_tokens=2 * n, api_requests=1)
        for n in range(1, keys + 1)
    }
    total = Metrics.sum(per_key.values())
    return DayActivity(
        date=date,
        metrics=total,
        models=MappingProxyType({"gpt-4o": BreakdownEntry(total, MappingProxyType(per_key))}),
        providers=MappingProxyType({"openai": BreakdownEntry(total, MappingProxyType(per_key))}),
        api_keys=MappingProxyType(
            {h: KeyUsageEntry(m, f"alias-{h[-4:]}", "org", True) for h, m in per_key.items()}
        ),
    )


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryDayStore()
    elif request.param == "sqlite":
        yield SQLiteDayStore(str(tmp_path / "http_cache.sqlite"))
    else:
        connection = redis.Redis.from_url(allocate_redis_url(required_env("TEST_REDIS_URL")))
        connection.flushdb()
        yield RedisDayStore(connection)
        connection.flushdb()
        connection.close()


@pytest.fixture
def cache(store):
    settings = LiteLLMSettings(base_url="http://litellm.invalid", master_key="sk-test")
    return UsageDayCache(store, "test-ns", settings, logging.getLogger("test"))


@pytest.fixture
def decodes(monkeypatch):
    seen: list[str] = []
    real = day_cache_module._decode_day

    def spy(date, raw):
        seen.append(date)
        return real(date, raw)

    monkeypatch.setattr(day_cache_module, "_decode_day", spy)
    return seen


def test_big_days_round_trip_decoded_only_when_used(cache, decodes):
    day = _organisation_day(PAST)
    fetched_at = dt.datetime.now(dt.UTC)
    cache.write(FILTERS, {PAST: day, PAST - dt.timedelta(days=1): None}, fetched_at)

    held = cache.read(FILTERS, [PAST - dt.timedelta(days=1), PAST])
    big = held[PAST]
    assert big.fetched_at.timestamp() == pytest.approx(fetched_at.timestamp(), abs=1e-5)
    assert big.settled and big.fresh(fetched_at)  # a past day, fetched after it settled
    assert decodes == []  # the read decoded none of its figures

    assert big.activity == day
    assert decodes == [PAST.isoformat()]  # decoded when used
    assert held[PAST - dt.timedelta(days=1)].activity is None


def test_today_is_not_settled(cache):
    fetched_at = dt.datetime.now(dt.UTC)
    cache.write(FILTERS, {TODAY: _organisation_day(TODAY)}, fetched_at)
    (today,) = cache.read(FILTERS, [TODAY]).values()
    assert not today.settled and today.activity.api_keys == _organisation_day(TODAY).api_keys


def test_ending_freshness_rewrites_big_days_without_decoding(cache, decodes):
    day = _organisation_day(PAST)
    fetched_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cache.write(FILTERS, {PAST: day}, fetched_at)
    now = dt.datetime.now(dt.UTC)

    cache.expire(FILTERS, cache.read(FILTERS, [PAST]).values(), now)
    assert decodes == []
    (again,) = cache.read(FILTERS, [PAST]).values()
    assert not again.fresh(now)  # kept for an outage's stale fallback, no longer current
    assert again.fetched_at.timestamp() == pytest.approx(fetched_at.timestamp(), abs=1e-5)
    assert again.activity == day


def test_an_unreadable_big_entry_is_not_held(cache, store):
    cache.write(FILTERS, {PAST: _organisation_day(PAST)}, dt.datetime.now(dt.UTC))
    key = cache._key(_digest(), PAST)
    store.put_many({key: b"<html>" + b"x" * 70_000 + b"</html>"}, 60)
    assert cache.read(FILTERS, [PAST]) == {}


def _digest() -> str:
    return day_cache_module.filters_digest(FILTERS)


def test_a_big_entry_with_unreadable_figures_is_a_bad_response_not_a_crash(cache, store):
    cache.write(FILTERS, {PAST: _organisation_day(PAST)}, dt.datetime.now(dt.UTC))
    key = cache._key(_digest(), PAST)
    (blob,) = store.get_many([key]).values()
    store.put_many({key: blob[:-200] + b"}"}, 60)  # cut: the head still reads
    (held,) = cache.read(FILTERS, [PAST]).values()
    with pytest.raises(LiteLLMBadResponse, match="Refresh now"):
        _ = held.activity
