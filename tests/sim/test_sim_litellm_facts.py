"""Behaviour seen on a real LiteLLM proxy that the simulator must reproduce (keys side)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

ENTERPRISE_ONLY = (
    "Regenerating Virtual Keys is an Enterprise feature, You must be a LiteLLM Enterprise user "
    "to use this feature. If you have a license please set `LITELLM_LICENSE` in your env. Get a "
    "7 day trial key here: https://www.litellm.ai/enterprise#trial. \nPricing: "
    "https://www.litellm.ai/#pricing"
)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("how", ["path", "body"])
def test_regenerate_is_an_enterprise_feature(api, lsim, how):
    key = lsim.add_key(key_alias="a", user_id="u")
    if how == "path":
        status, body = api.post(f"/key/{key['token']}/regenerate", {})
    else:
        status, body = api.post("/key/regenerate", {"key": key["key"]})
    assert (status, body) == (500, {"error": {"message": ENTERPRISE_ONLY,
                                              "type": "internal_server_error", "param": None,
                                              "code": "500"}})  # fmt: skip
    assert set(lsim.keys) == {key["token"]}  # nothing changed
    # refused before the key is even looked up
    assert api.post("/key/sk-unknown/regenerate", {})[0] == 500


def test_enterprise_regenerate_replaces_the_hash_in_place(api, lsim):
    lsim.set_enterprise(True)
    old = lsim.add_key(key_alias="a", user_id="u", max_budget=5.0, metadata={"m": 1})
    status, body = api.post(f"/key/{old['key']}/regenerate", {})
    assert status == 200, body
    assert body["token"] == body["token_id"] == hashlib.sha256(body["key"].encode()).hexdigest()
    assert body["token"] != old["token"] and body["key"] != old["key"]
    assert (body["key_alias"], body["user_id"], body["max_budget"]) == ("a", "u", 5.0)
    assert api.get("/key/list")[1]["keys"] == [body["token"]]
    assert api.get("/key/info", key=old["token"])[1]["info"]["status"] == "deleted"
    assert api.get("/key/list", status="deleted")[1]["keys"] == [old["token"]]
    assert api.post("/key/regenerate", {"key": old["token"]})[0] == 404  # the old hash is gone


def test_invalid_duration_is_an_uncaught_500(api, lsim):
    status, body = api.post("/key/generate", {"key_alias": "a", "duration": "7x"})
    assert (status, body["error"]) == (500, {
        "message": "Unsupported duration unit, passed duration: 7x",
        "type": "internal_server_error", "param": None, "code": "500"})  # fmt: skip
    status, body = api.post("/key/generate", {"key_alias": "b", "duration": "soon"})
    assert (status, body["error"]["message"]) == (500, "Invalid duration format")
    assert lsim.keys == {}  # nothing was created
    status, body = api.post("/key/update", {"key_alias": "x", "duration": "7x"})
    assert status == 404  # the key is looked up first


@pytest.mark.parametrize(("duration", "days"), [("7days", 7), ("monthly", 30), ("0d", 0)])
def test_loose_durations_litellm_accepts(api, duration, days):
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    status, body = api.post("/key/generate", {"duration": duration})
    assert status == 200, body
    assert body["duration"] is None  # LiteLLM does not echo it
    lifetime = _when(body["expires"]) - before
    assert timedelta(days=days) <= lifetime < timedelta(days=days, seconds=5)


def test_budget_reset_zeroes_spend_but_not_usage(api, lsim):
    token = api.post("/key/generate", {"key_alias": "a", "user_id": "u",
                                       "budget_duration": "1h"})[1]["token"]  # fmt: skip
    today = datetime.now(UTC).date().isoformat()
    lsim.add_usage(token=token, date=today, model="m", provider="p", prompt_tokens=10,
                   completion_tokens=5, spend=0.5)  # fmt: skip
    assert api.get("/key/info", key=token)[1]["info"]["spend"] == 0.5
    lsim.keys[token]["budget_reset_at"] = "2026-01-01T00:00:00Z"  # the window has passed
    info = api.get("/key/info", key=token)[1]["info"]
    assert info["spend"] == 0.0 and info["total_spend"] == 0.5
    assert _when(info["budget_reset_at"]) > datetime.now(UTC)
    assert info["budget_reset_at"].endswith(":00:00+00:00")  # the next full hour
    item = api.get("/key/list", return_full_object="true")[1]["keys"][0]
    assert item["spend"] == 0.0
    activity = api.get("/user/daily/activity", start_date=today, end_date=today)[1]
    assert activity["metadata"]["total_spend"] == 0.5  # usage history is never reset


@pytest.mark.parametrize(
    ("duration", "now", "reset"),
    [
        ("24h", "2026-12-01T00:36:59", "2026-12-02T00:00:00"),
        ("2w", "2026-12-01T00:36:59", "2026-12-15T00:00:00"),
        ("30m", "2026-12-01T00:36:59", "2026-12-01T01:00:00"),
        ("7d", "2026-12-01T00:36:59", "2026-12-07T00:00:00"),
        ("1mo", "2026-12-01T00:36:59", "2027-01-01T00:00:00"),
        ("monthly", "2026-11-30T23:00:00", "2026-12-01T00:00:00"),
    ],
)  # fmt: skip
def test_budget_reset_times_as_litellm_1_108_7(duration, now, reset):
    """Pairs observed on LiteLLM 1.108.7 (``budget_reset_at`` right after ``/key/generate``)."""
    from app.litellm_sim.durations import next_budget_reset

    at = datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert next_budget_reset(at, duration) == datetime.fromisoformat(reset).replace(tzinfo=UTC)


def test_invalid_budget_duration_is_400_with_litellm_message(api):
    status, body = api.post("/key/generate", {"budget_duration": "7x"})
    assert (status, body["error"]) == (400, {
        "message": "{'error': \"Invalid budget_duration '7x'. Use a format like '1h', '24h', "
                   "'7d', or '30d'.\"}",
        "type": "internal_server_error", "param": None, "code": "400"})  # fmt: skip


def test_error_texts_of_litellm_1_108_7(api, lsim):
    lsim.set_version("1.108.7")
    status, body = api.get("/key/list", sort_by="expires")  # accepted only from 1.110
    assert (status, body["error"]["param"]) == (400, "None")
    assert body["error"]["message"] == (
        "{'error': 'Invalid sort column. Must be one of: spend, max_budget, created_at, "
        "updated_at, token, key_alias'}"
    )
    assert api.get("/key/list", sort_order="up")[0] == 200  # only checked with sort_by
    status, body = api.post("/key/delete", {"keys": ["deadbeef"]})
    assert (status, body["error"]["type"]) == (404, "internal_server_error")
    status, body = api.post("/key/generate", {"max_budget": -1})
    assert (status, body["error"]["message"]) == (
        400,
        "{'error': 'max_budget must be a non-negative finite number. Received: -1.0'}",
    )
