"""Answers the client cannot use: never kept in the cache, never memoised, never a crash.

Infinity and NaN reach the client as JSON (Python's ``json`` reads ``Infinity``/``NaN``), so
they are written into raw bodies here exactly as a broken proxy would send them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from client_support import BASE

from app.services.litellm import LiteLLMBadResponse, LiteLLMUnavailable
from app.services.litellm.parsing import ShapeError, as_number, opt_float
from app.services.litellm.usage_results import parse_metrics

H1 = hashlib.sha256(b"sk-one").hexdigest()
DAY = dt.date(2026, 11, 25)
AGG = f"{BASE}/user/daily/activity/aggregated"
GOOD = {
    "results": [{"date": "2026-11-25", "metrics": {"spend": 3.0, "prompt_tokens": 7}}],
    "metadata": {"has_more": False},
}


def _activity_with(raw_metrics: str) -> str:
    return (
        '{"results": [{"date": "2026-11-25", "metrics": ' + raw_metrics + "}], "
        '"metadata": {"has_more": false}}'
    )


BAD_BODIES = {
    "html": ("<!DOCTYPE html><html><body>Sign in</body></html>", "text/html"),
    "truncated": ('{"results": [{"date": "2026-11-25", "metr', "application/json"),
    "shape": ('{"results": {"oops": 1}}', "application/json"),
    "infinite spend": (_activity_with('{"spend": Infinity}'), "application/json"),
    "NaN spend": (_activity_with('{"spend": NaN}'), "application/json"),
    "infinite tokens": (_activity_with('{"prompt_tokens": Infinity}'), "application/json"),
    "huge tokens": (_activity_with('{"prompt_tokens": 1e999}'), "application/json"),
    "negative spend": (_activity_with('{"spend": -0.5}'), "application/json"),
    "negative requests": (_activity_with('{"failed_requests": -1}'), "application/json"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_an_unreadable_200_is_a_bad_response_and_leaves_the_cache_empty(client, rsps, kind):
    body, content_type = BAD_BODIES[kind]
    rsps.get(AGG, body=body, content_type=content_type)
    rsps.get(AGG, json=GOOD)

    with pytest.raises(LiteLLMBadResponse):
        client.daily_activity(DAY, DAY, api_key=H1)
    assert len(client.http.session.cache.responses) == 0
    assert len(client.http.parsed_memo) == 0

    assert client.daily_activity(DAY, DAY, api_key=H1).totals.spend == 3.0
    assert len(rsps.calls) == 2  # the second call went to LiteLLM, not to a cached failure


def _corrupt_the_held_day(client, *, expired: bool = False) -> None:
    store = client.usage_days.cache.store
    client.usage_days.cache.memo.clear()
    ((key, (until, _blob)),) = store._data.items()
    entry = b'{"date": "2026-11-25", "f": 0, "u": 0, "d": {"m": "<html>"}}'
    store._data[key] = (until, entry if expired else b"<html>login</html>")


def test_an_unreadable_day_already_in_the_cache_is_fetched_again(client, rsps):
    # E.g. written by an older portal version, or by another instance sharing Redis.
    rsps.get(AGG, json=GOOD)
    client.daily_activity(DAY, DAY, api_key=H1)
    _corrupt_the_held_day(client)

    assert client.daily_activity(DAY, DAY, api_key=H1).totals.spend == 3.0
    assert len(rsps.calls) == 2  # the unreadable day counted as not held


def test_a_stale_day_that_cannot_be_read_is_not_served(client, rsps):
    rsps.get(AGG, json=GOOD)
    client.daily_activity(DAY, DAY, api_key=H1)
    _corrupt_the_held_day(client, expired=True)
    rsps.get(AGG, status=503, body="")

    with pytest.raises(LiteLLMUnavailable):
        client.daily_activity(DAY, DAY, api_key=H1)


def test_key_spend_that_is_not_finite_is_a_bad_response(client, rsps):
    key = {"token": H1, "key_alias": "a", "user_id": "alice", "spend": "Infinity"}
    body = json.dumps({"keys": [key], "total_count": 1, "current_page": 1, "total_pages": 1})
    rsps.get(f"{BASE}/key/list", body=body.replace('"Infinity"', "Infinity"))
    with pytest.raises(LiteLLMBadResponse, match="spend"):
        client.list_keys("alice")
    assert len(client.http.session.cache.responses) == 0


# ------------------------------------------------------------------ the readers themselves


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), -1, -0.01, "-3"])
@pytest.mark.parametrize("kind", [int, float])
def test_as_number_refuses_non_finite_and_negative_values(value, kind):
    with pytest.raises(ShapeError, match="spend"):
        as_number(value, kind, "spend")


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -5])
def test_a_budget_that_makes_no_sense_is_no_budget(value):
    assert opt_float(value) is None
    assert opt_float("12.5") == 12.5


def test_metrics_name_the_field_that_is_wrong_and_stay_tolerant_of_missing_ones():
    with pytest.raises(ShapeError, match="completion_tokens is negative"):
        parse_metrics({"spend": 1.0, "completion_tokens": -4})
    with pytest.raises(ShapeError, match="spend is nan"):
        parse_metrics({"spend": float("nan")})
    # Null, bool and unreadable values still mean "nothing counted", not a broken answer.
    tolerant = parse_metrics({"spend": None, "prompt_tokens": "12", "completion_tokens": "x",
                              "api_requests": True, "failed_requests": "2.7"})  # fmt: skip
    assert (tolerant.spend, tolerant.prompt_tokens, tolerant.completion_tokens) == (0.0, 12, 0)
    assert (tolerant.api_requests, tolerant.failed_requests) == (0, 2)
