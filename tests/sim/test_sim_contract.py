"""Every response shape the simulator serves, validated against LiteLLM 1.110.2's schemas."""

from __future__ import annotations

import json

import pytest

DAY = "2026-11-25"


def _seed(lsim):
    key = lsim.add_key(key_alias="alice--laptop", user_id="alice@example.com", models=["gpt-4o"])
    for model, provider in (("gpt-4o-mini", "openai"), ("claude-sonnet-4", "anthropic")):
        lsim.add_usage(
            token=key["token"], date=DAY, model=model, provider=provider, prompt_tokens=100,
            completion_tokens=20, spend=0.01, cache_read_input_tokens=5, failed_requests=1,
        )  # fmt: skip
    lsim.add_usage(
        token="", date=DAY, model=None, provider=None, prompt_tokens=1, completion_tokens=1,
        spend=0.0, user_id="",
    )  # fmt: skip
    return key


def test_strict_schemas_accept_litellm_examples(contract):
    """The strict schemas match what LiteLLM itself serializes (guards the strictness)."""
    keys = json.loads((contract.dir / "keys.json").read_text())
    contract.validate(
        "KeyListResponseObject", keys["GET /key/list (default, return_full_object=false)"]
    )
    contract.validate("KeyListResponseObject", keys["GET /key/list?return_full_object=true"])
    contract.validate("GenerateKeyResponse", keys["POST /key/generate response"])
    activity = json.loads((contract.dir / "user-daily-activity.json").read_text())
    contract.validate("SpendAnalyticsPaginatedResponse", activity)


def test_validator_can_fail(contract):
    """Missing fields, extra fields and wrong types are all caught."""
    activity = json.loads((contract.dir / "user-daily-activity.json").read_text())
    del activity["results"][0]["metrics"]["ptu_hours"]
    assert contract.errors("SpendAnalyticsPaginatedResponse", activity)
    activity = json.loads((contract.dir / "user-daily-activity.json").read_text())
    activity["metadata"]["surprise"] = 1
    assert contract.errors("SpendAnalyticsPaginatedResponse", activity)
    assert contract.errors("ProxyError", {"error": {"message": "x", "type": "t", "code": 401}})
    assert contract.errors("GenerateKeyResponse", {"key": "sk-x", "expires": "2026-11-20 09:30"})


def test_paths_reference_expected_schemas(contract):
    assert contract.response_schema("GET", "/key/list")["$ref"].endswith("KeyListResponseObject")
    assert contract.response_schema("POST", "/key/generate")["$ref"].endswith("GenerateKeyResponse")
    for path in ("/user/daily/activity", "/user/daily/activity/aggregated"):
        assert contract.response_schema("GET", path)["$ref"].endswith(
            "SpendAnalyticsPaginatedResponse"
        )


def test_generate_response(api, contract):
    status, body = api.post(
        "/key/generate",
        {"key_alias": "a--laptop", "user_id": "a@example.com", "models": ["gpt-4o-mini"],
         "max_budget": 10.0, "budget_duration": "30d", "duration": "7d",
         "metadata": {"portal": "flask"}, "tpm_limit": 1000, "rpm_limit": 60},
    )  # fmt: skip
    assert status == 200
    contract.validate("GenerateKeyResponse", body)
    assert body["key_type"] == "default" and body["expires"] is not None


@pytest.mark.parametrize("full", [False, True])
def test_list_response(api, lsim, contract, full):
    _seed(lsim)
    status, body = api.get("/key/list", return_full_object=str(full).lower())
    assert status == 200
    contract.validate("KeyListResponseObject", body)
    assert isinstance(body["keys"][0], dict) is full
    if full:  # each item also matches UserAPIKeyAuth on its own
        contract.validate("UserAPIKeyAuth", body["keys"][0])


def test_list_empty_and_deleted_status(api, lsim, contract):
    status, body = api.get("/key/list", return_full_object="true")
    assert status == 200 and body == {
        "keys": [], "total_count": 0, "current_page": 1, "total_pages": 0
    }  # fmt: skip
    contract.validate("KeyListResponseObject", body)
    key = _seed(lsim)
    assert api.post("/key/delete", {"keys": [key["token"]]})[0] == 200
    status, body = api.get("/key/list", return_full_object="true", status="deleted")
    assert status == 200 and body["total_count"] == 1
    contract.validate("LiteLLM_DeletedVerificationToken", body["keys"][0])
    contract.validate("KeyListResponseObject", body)


def test_info_update_delete_shapes(api, lsim, contract):
    key = _seed(lsim)
    status, body = api.get("/key/info", key=key["token"])
    assert status == 200 and body["key"] == key["token"]
    assert "token" not in body["info"] and body["info"]["status"] == "active"
    assert body["info"]["key_name"] == "sk-..." + key["key"][-4:]
    status, body = api.post("/key/update", {"key": key["token"], "blocked": True})
    assert status == 200 and body["key"] == key["token"] and body["token"] == key["token"]
    assert body["blocked"] is True
    status, body = api.post("/key/delete", {"keys": [key["token"]]})
    assert (status, body) == (200, {"deleted_keys": [key["token"]]})


@pytest.mark.parametrize("path", ["/user/daily/activity", "/user/daily/activity/aggregated"])
@pytest.mark.parametrize("filters", [{}, {"user_id": "alice@example.com"}, {"user_id": "nobody"}])
def test_activity_response(api, lsim, contract, path, filters):
    _seed(lsim)
    status, body = api.get(path, start_date=DAY, end_date=DAY, **filters)
    assert status == 200
    contract.validate("SpendAnalyticsPaginatedResponse", body)


def test_auth_error_bodies(lsim_client, contract):
    resp = lsim_client.get("/key/list")
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": {
            "message": "Authentication Error, No api key passed in.",
            "type": "auth_error", "param": "None", "code": "401",  # a string, as LiteLLM sends
        }
    }  # fmt: skip
    resp = lsim_client.get("/key/list", headers={"Authorization": "Bearer sk-wrong"})
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": {
            "message": "Authentication Error, Invalid API key provided.",
            "type": "token_not_found_in_db", "param": "key", "code": "401",
        }
    }  # fmt: skip
    contract.validate("ProxyError", resp.get_json())


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "schema"),
    [
        ("GET", "/key/info", {"key": "deadbeef"}, 404, "ProxyError"),
        ("POST", "/key/delete", {"keys": ["deadbeef"]}, 404, "ProxyError"),
        ("POST", "/key/update", {"key": "deadbeef"}, 404, "ProxyError"),
        ("POST", "/key/update", {"max_budget": 1}, 422, "HTTPValidationError"),
        ("POST", "/key/delete", {}, 422, "HTTPValidationError"),
        ("POST", "/key/generate", {"duration": "7x"}, 500, "ProxyError"),  # uncaught in LiteLLM
        ("POST", "/key/generate", {"budget_duration": "7x"}, 400, "ProxyError"),
        ("POST", "/key/generate", {"max_budget": -1}, 400, "ProxyError"),
        ("POST", "/key/generate", {"max_budget": "lots"}, 422, "HTTPValidationError"),
        ("POST", "/key/generate", {"key": "not-sk"}, 400, "ProxyError"),
        ("GET", "/key/list", {"size": 500}, 422, "HTTPValidationError"),
        ("GET", "/key/list", {"page": 0}, 422, "HTTPValidationError"),
        ("GET", "/key/list", {"sort_by": "nope"}, 400, "ProxyError"),
        ("GET", "/user/daily/activity", {}, 400, "DetailError"),
        ("GET", "/user/daily/activity", {"start_date": "2026-9-1", "end_date": DAY}, 400,
         "DetailError"),
        ("GET", "/user/daily/activity", {"start_date": DAY, "end_date": "2026-11-01"}, 400,
         "DetailError"),
        ("GET", "/user/daily/activity", {"page_size": 5000}, 422, "HTTPValidationError"),
        ("GET", "/user/daily/activity/aggregated", {"api_key_limit": 0}, 422,
         "HTTPValidationError"),
        ("GET", "/user/daily/activity/aggregated", {"start_date": DAY}, 400, "DetailError"),
    ],
)  # fmt: skip
def test_error_bodies(api, contract, method, path, payload, status, schema):
    if method == "GET":
        got_status, body = api.get(path, **payload)
    else:
        got_status, body = api.post(path, payload)
    assert got_status == status, body
    contract.validate(schema, body)


def test_exact_contract_bodies(api):
    """Bodies a real LiteLLM 1.110.2 without a database answered, verbatim."""
    assert api.get("/key/list", size=500) == (422, {"detail": [
        {"type": "less_than_equal", "loc": ["query", "size"],
         "msg": "Input should be less than or equal to 100"}]})  # fmt: skip
    assert api.get("/user/daily/activity", page_size=5000, start_date=DAY, end_date=DAY) == (
        422, {"detail": [{"type": "less_than_equal", "loc": ["query", "page_size"],
                          "msg": "Input should be less than or equal to 1000"}]})  # fmt: skip
    assert api.post("/key/update", {"max_budget": 1}) == (422, {"detail": [
        {"type": "value_error", "loc": ["body"],
         "msg": "Value error, either key or key_alias must be provided"}]})  # fmt: skip
    assert api.get("/user/daily/activity") == (
        400,
        {"detail": {"error": "Please provide start_date and end_date"}},
    )
    assert api.get("/user/daily/activity", start_date="20261101", end_date=DAY) == (
        400, {"detail": {"error": "start_date and end_date must be valid YYYY-MM-DD dates"}}
    )  # fmt: skip
    assert api.get("/user/daily/activity", start_date=DAY, end_date="2026-11-24") == (
        400,
        {"detail": {"error": "end_date must be on or after start_date"}},
    )
    status, body = api.post("/key/delete", {"keys": ["sk-gone"]})
    assert status == 404 and body["error"]["message"] == "{'error': 'No keys found'}"
    assert body["error"]["code"] == "404"
    status, body = api.get("/key/info", key="sk-gone")
    assert status == 404 and body["error"]["message"] == "Key not found in database"
    status, body = api.post("/key/update", {"key": "sk-gone"})
    assert (status, body["error"]["message"], body["error"]["param"]) == (
        404,
        "Key not found.",
        "key",
    )


def test_liveliness_needs_no_auth(lsim_client):
    resp = lsim_client.get("/health/liveliness")
    assert resp.status_code == 200 and resp.get_json() == "I'm alive!"


def test_unknown_route_is_fastapi_404(lsim_client):
    resp = lsim_client.get("/no/such/route")
    assert (resp.status_code, resp.get_json()) == (404, {"detail": "Not Found"})
