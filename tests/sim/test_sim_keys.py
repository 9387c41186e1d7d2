"""/key/* semantics: hashing, unique aliases, exact filters, paging, archive, merge patch."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta


def _gen(api, **body):
    status, out = api.post("/key/generate", body)
    assert status == 200, out
    return out


def test_generate_token_is_sha256_of_secret(api, lsim):
    out = _gen(api, key_alias="a--laptop", user_id="a@example.com")
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{22}", out["key"])
    digest = hashlib.sha256(out["key"].encode()).hexdigest()
    assert out["token"] == out["token_id"] == digest
    assert out["key_name"] == "sk-..." + out["key"][-4:]
    assert out["expires"] is None and out["key_type"] == "default"
    assert lsim.keys[digest]["user_id"] == "a@example.com"


def test_generate_duration_and_custom_key(api):
    before = datetime.now(UTC) - timedelta(milliseconds=1)  # stored to the millisecond
    out = _gen(api, key="sk-my-custom-key-123", duration="2h", key_type="llm_api")
    expires = datetime.fromisoformat(out["expires"].replace("Z", "+00:00"))
    assert timedelta(hours=2) <= expires - before < timedelta(hours=2, seconds=5)
    assert out["key"] == "sk-my-custom-key-123" and out["key_type"] == "llm_api"


def test_duplicate_alias_is_400(api):
    _gen(api, key_alias="dup")
    status, body = api.post("/key/generate", {"key_alias": "dup"})
    assert status == 400
    assert body["error"]["message"] == (
        "Key with alias 'dup' already exists. Unique key aliases across all keys are required."
    )
    assert body["error"]["code"] == "400"


def test_list_exact_user_and_alias_matching(api, lsim):
    lsim.add_key(key_alias="alice--laptop", user_id="alice")
    lsim.add_key(key_alias="alice2--laptop", user_id="alice2")
    lsim.add_key(key_alias="ALICE--old", user_id="Alice")
    status, body = api.get("/key/list", user_id="alice", return_full_object="true")
    assert status == 200 and [k["user_id"] for k in body["keys"]] == ["alice"]
    assert api.get("/key/list", key_alias="alice")[1]["total_count"] == 0
    # opt-in substring matching (1.90+) and the 1.84–1.89 implicit behaviour
    assert api.get("/key/list", user_id="alice", substring_matching="true")[1]["total_count"] == 3
    lsim.set_substring_matching(True)
    assert api.get("/key/list", user_id="alice")[1]["total_count"] == 3
    assert api.get("/key/list", key_alias="ALICE2")[1]["total_count"] == 1


def test_list_pagination_and_order(api, lsim):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    tokens = [
        lsim.add_key(key_alias=f"k{i}", user_id="u", created_at=base + timedelta(days=i))["token"]
        for i in range(25)
    ]
    newest_first = tokens[::-1]
    pages = []
    for page in (1, 2, 3):
        status, body = api.get("/key/list", user_id="u", page=page, size=10)
        assert status == 200 and body["total_count"] == 25 and body["total_pages"] == 3
        assert body["current_page"] == page
        pages += body["keys"]
    assert pages == newest_first
    assert api.get("/key/list", user_id="u", page=4, size=10)[1]["keys"] == []
    assert api.get("/key/list", user_id="u", size=100)[1]["total_pages"] == 1
    assert api.get("/key/list", user_id="nobody")[1]["total_pages"] == 0
    assert api.get("/key/list")[1]["total_pages"] == 3  # default size 10


def test_list_same_created_at_orders_by_token_desc(api, lsim):
    when = datetime(2026, 11, 1, tzinfo=UTC)
    tokens = [
        lsim.add_key(key_alias=f"k{i}", user_id="u", created_at=when)["token"] for i in range(5)
    ]
    assert api.get("/key/list")[1]["keys"] == sorted(tokens, reverse=True)


def test_list_full_object_fields(api, lsim):
    lsim.add_key(key_alias="a", user_id="u", models=["gpt-4o"], max_budget=5.0, metadata={"x": 1})
    item = api.get("/key/list", return_full_object="true")[1]["keys"][0]
    assert item["org_id"] is None and "organization_id" not in item
    assert (item["models"], item["max_budget"], item["metadata"]) == (["gpt-4o"], 5.0, {"x": 1})
    assert item["user_email"] is None  # not filled on /key/list (BerriAI/litellm#16483)


def test_list_key_hash_needs_hash(api, lsim):
    key = lsim.add_key(key_alias="a", user_id="u")
    assert api.get("/key/list", key_hash=key["token"])[1]["keys"] == [key["token"]]
    assert api.get("/key/list", key_hash=key["key"])[1]["keys"] == []


def test_info_accepts_hash_or_raw_and_reports_status(api, lsim):
    key = lsim.add_key(key_alias="a", user_id="u")
    assert api.get("/key/info", key=key["key"])[1]["info"]["key_alias"] == "a"
    assert api.get("/key/info", key=key["token"])[1]["key"] == key["token"]
    old = lsim.add_key(key_alias="old", user_id="u", expires="2020-01-01T00:00:00Z")
    assert api.get("/key/info", key=old["token"])[1]["info"]["status"] == "expired"
    blocked = lsim.add_key(key_alias="b", user_id="u", blocked=True)
    assert api.get("/key/info", key=blocked["token"])[1]["info"]["status"] == "revoked"
    assert api.get("/key/list", status="revoked")[1]["keys"] == [blocked["token"]]


def test_delete_archives_and_echoes_verbatim(api, lsim):
    a = lsim.add_key(key_alias="a", user_id="u")
    b = lsim.add_key(key_alias="b", user_id="u")
    status, body = api.post("/key/delete", {"keys": [a["key"], "missing-hash"]})
    assert (status, body) == (200, {"deleted_keys": [a["key"], "missing-hash"]})
    assert a["token"] not in lsim.keys and a["token"] in lsim.deleted
    info = api.get("/key/info", key=a["token"])[1]["info"]
    assert info["status"] == "deleted" and info["deleted_at"]
    assert api.get("/key/list")[1]["keys"] == [b["token"]]
    assert api.post("/key/delete", {"keys": [a["token"]]})[0] == 404  # already gone
    assert api.post("/key/delete", {"key_aliases": ["b"]}) == (200, {"deleted_keys": ["b"]})
    # the alias is free again after deletion
    assert api.post("/key/generate", {"key_alias": "a"})[0] == 200


def test_update_merge_patch(api, lsim):
    key = lsim.add_key(key_alias="a", user_id="u", max_budget=5.0, metadata={"old": True})
    status, body = api.post("/key/update", {"key": key["key"], "metadata": {"new": 1}})
    assert status == 200 and body["key"] == key["key"]
    assert body["metadata"] == {"new": 1} and body["max_budget"] == 5.0  # replaced / kept
    status, body = api.post("/key/update", {"key_alias": "a", "max_budget": None})
    assert status == 200 and body["max_budget"] is None  # explicit null clears
    lsim.add_key(key_alias="taken", user_id="u")
    status, body = api.post("/key/update", {"key": key["token"], "key_alias": "taken"})
    assert status == 400 and "already exists" in body["error"]["message"]
    status, body = api.post("/key/update", {"key": key["token"], "duration": "1d"})
    assert body["expires"] is not None
    assert api.post("/key/update", {"key": key["token"], "duration": None})[1]["expires"] is None
    assert api.post("/key/update", {"key_alias": "nope"})[0] == 404


def test_auth_header_variants(lsim_client):
    ok = {"x-litellm-api-key": "sk-sim-master-0123456789"}
    assert lsim_client.get("/key/list", headers=ok).status_code == 200
    assert lsim_client.get("/key/list", headers={"Authorization": "Bearer "}).status_code == 401


def test_usage_adds_spend_to_key(lsim):
    key = lsim.add_key(key_alias="a", user_id="u")
    lsim.add_usage(token=key["token"], date="2026-11-01", model="m", provider="p",
                   prompt_tokens=1, completion_tokens=1, spend=0.25)  # fmt: skip
    assert lsim.keys[key["token"]]["spend"] == 0.25


def test_budget_reset_at_snaps_to_boundaries(api):
    def reset(duration):
        token = _gen(api, budget_duration=duration)["token_id"]
        info = api.get("/key/info", key=token)[1]["info"]
        return datetime.fromisoformat(info["budget_reset_at"].replace("Z", "+00:00"))

    now = datetime.now(UTC)
    month = reset("30d")
    assert (month.day, month.hour) == (1, 0) and month > now
    assert reset("1mo") == month
    week = reset("7d")
    assert week.weekday() == 0 and week > now and week.hour == 0
    hour = reset("1h")
    assert hour.minute == 0 and timedelta(0) < hour - now <= timedelta(hours=1)
    status, body = api.post("/key/generate", {"budget_duration": "soon"})
    assert status == 400 and "Invalid budget_duration 'soon'" in body["error"]["message"]


def test_models_lists_the_configured_models_in_openai_shape(api, lsim):
    for path in ("/models", "/v1/models"):
        status, body = api.get(path)
        assert status == 200
        model = {"object": "model", "created": 1677610602, "owned_by": "openai"}
        expected = [{"id": "mock-gpt", **model}, {"id": "mock-claude", **model}]
        assert body == {"data": expected, "object": "list"}
    lsim.models[:] = ["only-one"]
    assert [m["id"] for m in api.get("/models")[1]["data"]] == ["only-one"]
    lsim.reset()
    assert [m["id"] for m in api.get("/models")[1]["data"]] == ["mock-gpt", "mock-claude"]
