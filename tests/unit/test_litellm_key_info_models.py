"""The client's /key/info (one key's live figures) and /models (what a key may name): parsed
into typed results, cached briefly, failures as LiteLLMError."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import responses
from client_support import BASE, make_client

from app.services.litellm import LiteLLMBadResponse, LiteLLMNotFound

TOKEN = hashlib.sha256(b"sk-one").hexdigest()
INFO = {
    "key": TOKEN,
    "info": {
        "key_alias": "alice--laptop", "user_id": "alice@example.com", "spend": 2.5,
        "max_budget": 10.0, "budget_duration": "1mo", "budget_reset_at": "2027-01-01T00:00:00Z",
        "rpm_limit": 60, "tpm_limit": "100000", "models": ["mock-gpt"], "blocked": None,
        "expires": None, "created_at": "2026-11-20T09:30:00+00:00", "status": "active",
        "last_active": None, "metadata": {"portal": "x"},
    },
}  # fmt: skip
MODELS = {"data": [{"id": "mock-gpt", "object": "model"}, {"id": "mock-claude"},
                   {"id": "mock-gpt"}, {"object": "model"}], "object": "list"}  # fmt: skip


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def test_key_info_is_typed_and_asked_by_hash(fake):
    fake.get(f"{BASE}/key/info", json=INFO)
    client = make_client()

    info = client.key_info(TOKEN)

    assert fake.calls[0].request.params == {"key": TOKEN}
    assert info.spend == 2.5 and info.max_budget == 10.0
    assert info.budget_duration == "1mo"
    assert info.budget_reset_at == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert (info.rpm_limit, info.tpm_limit) == (60, 100000)
    assert info.models == ("mock-gpt",) and info.blocked is False
    assert info.status == "active" and info.deleted is False
    # Cached briefly: the second read is the same answer without a call.
    assert client.key_info(TOKEN) == info
    assert len(fake.calls) == 1


def test_key_info_of_a_deleted_key_and_of_an_unknown_one(fake):
    deleted = {"key": TOKEN, "info": {**INFO["info"], "status": "deleted"}}
    fake.get(f"{BASE}/key/info", json=deleted)
    assert make_client().key_info(TOKEN).deleted is True
    fake.get(f"{BASE}/key/info", status=404, json={"error": {"message": "Key not found"}})
    with pytest.raises(LiteLLMNotFound):
        make_client().key_info(TOKEN)


def test_key_info_without_info_is_a_bad_response(fake):
    fake.get(f"{BASE}/key/info", json={"key": TOKEN})
    with pytest.raises(LiteLLMBadResponse):
        make_client().key_info(TOKEN)


def test_key_info_is_not_cached_when_the_key_list_is_not(fake):
    fake.get(f"{BASE}/key/info", json=INFO)
    client = make_client(key_list_ttl=0)
    client.key_info(TOKEN)
    client.key_info(TOKEN)
    assert len(fake.calls) == 2


def test_model_names_are_deduplicated_in_order_and_cached(fake):
    fake.get(f"{BASE}/models", json=MODELS)
    client = make_client()
    assert client.model_names() == ("mock-gpt", "mock-claude")
    assert client.model_names() == ("mock-gpt", "mock-claude")
    assert len(fake.calls) == 1


def test_a_model_list_of_another_shape_is_a_bad_response(fake):
    fake.get(f"{BASE}/models", json=["mock-gpt"])
    with pytest.raises(LiteLLMBadResponse):
        make_client().model_names()


def test_generate_sends_budget_duration_only_when_given(fake):
    secret = "sk-one"
    body = {"key": secret, "token_id": TOKEN}
    fake.post(f"{BASE}/key/generate", json=body)
    fake.post(f"{BASE}/key/generate", json=body)
    client = make_client()
    client.generate_key(key_alias="a--b", user_id="a", budget_duration="7d")
    client.generate_key(key_alias="a--c", user_id="a")
    first, second = (json.loads(call.request.body) for call in fake.calls)
    assert first["budget_duration"] == "7d" and "budget_duration" not in second
