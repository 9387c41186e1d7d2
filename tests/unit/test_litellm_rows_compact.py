"""The rows endpoint's pages read straight into the day cache's layout (``usage_rows``): the
same figures, to the bit, as reading them into DayActivity objects, merging those and encoding
them for the day cache; the same ShapeError for an unreadable page."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from app.services.litellm.day_cache import UsageDayCache, _encode_day
from app.services.litellm.day_store import MemoryDayStore
from app.services.litellm.parsing import ShapeError
from app.services.litellm.settings import LiteLLMSettings
from app.services.litellm.usage_results import parse_activity_page
from app.services.litellm.usage_rows import merge_day, parse_rows_page

DAY = "2026-11-20"
TOKENS = [f"{n:064x}" for n in range(1, 5)]


def _metrics(n: int) -> dict:
    # Spends whose float sums depend on the order they are added in.
    return {"spend": 0.1 * n + 1e-9 * n * n, "prompt_tokens": 7 * n, "completion_tokens": n,
            "total_tokens": 8 * n, "api_requests": n, "successful_requests": n}  # fmt: skip


def _page(part: int, tokens: list[str], *, alias: bool) -> dict:
    """One page's part of DAY: the keys of ``tokens`` on two models, LiteLLM 1.110's shape."""
    per_key = {t: {"metrics": _metrics(part + i)} for i, t in enumerate(tokens)}
    keys = {
        t: {"metrics": _metrics(part + i),
            "metadata": {"key_alias": f"alias-{part}-{i}" if alias else None, "user_id": "u",
                         "key_exists": True}}
        for i, t in enumerate(tokens)
    }  # fmt: skip
    return {
        "results": [
            {
                "date": DAY,
                "metrics": _metrics(10 + part),
                "breakdown": {
                    "models": {
                        "gpt-4o": {
                            "metrics": _metrics(part),
                            "metadata": {},
                            "api_key_breakdown": per_key,
                        },
                        # a model first seen on this page
                        f"new-{part}": {
                            "metrics": _metrics(part + 2),
                            "api_key_breakdown": per_key,
                        },
                        # 1.65's shape: bare metrics, no per-key breakdown
                        f"old-{part}": _metrics(part + 3),
                    },  # fmt: skip
                    "providers": {
                        "openai": {
                            "metrics": _metrics(part + 1),
                            "metadata": {},
                            "api_key_breakdown": per_key,
                        }
                    },  # fmt: skip
                    "api_keys": keys,
                    "entities": {"u": {"metrics": _metrics(1), "api_key_breakdown": per_key}},
                },
            },
            {"date": "2026-11-19T00:00:00", "metrics": _metrics(part)},
        ],
        "metadata": {"has_more": part < 3, "total_pages": 3, "total_api_keys": None},
    }


# A day split across three pages: keys overlap, the first part has no aliases yet.
PAGES = [
    _page(1, TOKENS[:2], alias=False),
    _page(2, TOKENS[1:3], alias=True),
    _page(3, TOKENS[3:] + TOKENS[:1] + TOKENS[2:3], alias=True),
]


def test_a_day_split_across_pages_gives_the_bytes_the_object_path_gives():
    by_objects = {}
    compact: dict = {}
    for body in PAGES:
        for day in parse_activity_page(body).days:
            held = by_objects.get(day.date)
            by_objects[day.date] = day if held is None else held + day
        page = parse_rows_page(body)
        assert page.total_pages == 3
        for date, day in page.days:
            merge_day(compact, date, day)

    assert set(compact) == set(by_objects) == {dt.date(2026, 11, 20), dt.date(2026, 11, 19)}
    for date, day in by_objects.items():
        assert json.dumps(compact[date], separators=(",", ":")).encode() == _encode_day(day)
    keys = compact[dt.date(2026, 11, 20)]["k"]
    assert keys[TOKENS[1]][1:] == ["alias-2-0", "u", True]  # the first part that has an alias
    assert keys[TOKENS[2]][1:] == ["alias-2-1", "u", True]  # not the later one (alias-3-2)


def test_the_day_cache_holds_compact_days_as_it_holds_decoded_ones():
    settings = LiteLLMSettings(base_url="http://litellm.invalid", master_key="sk-test")
    log = logging.getLogger("test")
    fetched_at = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    date = dt.date(2026, 11, 20)
    objects = parse_activity_page(PAGES[0]).days[0]
    (_, compact) = parse_rows_page(PAGES[0]).days[0]

    store_a, store_b = MemoryDayStore(), MemoryDayStore()
    a = UsageDayCache(store_a, "ns", settings, log)
    b = UsageDayCache(store_b, "ns", settings, log)
    held_a = a.write({"user_id": "u"}, {date: objects, date.replace(day=21): None}, fetched_at)
    held_b = b.write_compact(
        {"user_id": "u"}, {date: compact, date.replace(day=21): None}, fetched_at
    )

    assert store_a.get_many(list(store_a._data)) == store_b.get_many(list(store_b._data))
    assert len(store_a._data) == 2
    for day in held_a:
        assert held_b[day].activity == held_a[day].activity
        assert held_b[day].stamp == held_a[day].stamp
        assert held_b[day].fresh_until == held_a[day].fresh_until
        assert held_b[day].settled == held_a[day].settled


@pytest.mark.parametrize(
    "body",
    [
        {"results": {"oops": 1}},
        {"results": [], "metadata": "x"},
        {"results": [1]},
        {"results": [{"metrics": {}}]},
        {"results": [{"date": DAY, "breakdown": "x"}]},
        {"results": [{"date": DAY, "metrics": {"spend": -1.0}}]},
        {"results": [{"date": DAY, "metrics": {"spend": float("inf")}}]},
        {"results": [{"date": DAY, "breakdown": {"models": {"m": 3}}}]},
        {"results": [{"date": DAY, "breakdown": {"api_keys": "x"}}]},
        {"results": [{"date": DAY, "breakdown": {"providers": {"p": "x"}}}]},
        {
            "results": [
                {"date": DAY, "breakdown": {"api_keys": {"h": {"metrics": {"spend": "-3"}}}}}
            ]
        },
        {
            "results": [
                {
                    "date": DAY,
                    "breakdown": {"models": {"m": {"metrics": {}, "api_key_breakdown": {"h": 3}}}},
                }
            ]
        },  # fmt: skip
        {"results": [], "metadata": {"total_pages": -2}},
    ],
)
def test_an_unreadable_page_raises_the_same_shape_error(body):
    with pytest.raises(ShapeError) as by_objects:
        parse_activity_page(body)
    with pytest.raises(ShapeError) as compact:
        parse_rows_page(body)
    assert str(compact.value) == str(by_objects.value)
