"""After a key change only the cached answers it can have changed are dropped, found by their
keys alone (never by reading every cached answer): a new key drops its owner's lists and the
lists of all keys, a deleted key every list and its own /key/info, nothing else."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from client_support import BASE, make_client

from app.services.litellm import build_cache_backend

ONE = hashlib.sha256(b"sk-one").hexdigest()
TWO = hashlib.sha256(b"sk-two").hexdigest()
LIST = {"keys": [], "total_count": 0, "current_page": 1, "total_pages": 0}


def _info(token: str) -> dict:
    return {"key": token, "info": {"key_alias": "a", "user_id": "o'brien@example.com"}}


@pytest.fixture(params=["memory", "sqlite"])
def client(request, tmp_path):
    backend = "memory"
    if request.param == "sqlite":
        backend = build_cache_backend(f"sqlite:///{tmp_path / 'cache.sqlite'}", str(tmp_path))
    client = make_client(cache_backend=backend)
    yield client
    client.close()


def _asked(fake, path: str) -> list[str]:
    """Who each call to ``path`` was about (its user_id or key; "" for a sweep of all)."""
    found = []
    for call in fake.calls:
        parts = urlsplit(call.request.url)
        if parts.path == path:
            query = parse_qs(parts.query)
            found.append((query.get("user_id") or query.get("key") or [""])[0])
    return found


def test_a_new_key_drops_only_its_owners_lists_and_the_lists_of_all_keys(client):
    with responses.RequestsMock() as fake:
        fake.get(f"{BASE}/key/list", json=LIST)
        fake.post(
            f"{BASE}/key/generate",
            json={"key": "sk-new", "token_id": hashlib.sha256(b"sk-new").hexdigest()},
        )
        for user in ("o'brien@example.com", "bob@example.com", None):
            client.list_keys(user)
        client.generate_key(key_alias="obrien--laptop", user_id="o'brien@example.com")
        for user in ("o'brien@example.com", "bob@example.com", None):
            client.list_keys(user)
        asked = _asked(fake, "/key/list")
    assert asked == ["o'brien@example.com", "bob@example.com", "", "o'brien@example.com", ""]


def test_a_deleted_key_drops_every_list_and_its_own_info_only(client):
    with responses.RequestsMock() as fake:
        fake.get(f"{BASE}/key/list", json=LIST)
        fake.get(
            f"{BASE}/key/info",
            json=_info(ONE),
            match=[responses.matchers.query_param_matcher({"key": ONE})],
        )
        fake.get(
            f"{BASE}/key/info",
            json=_info(TWO),
            match=[responses.matchers.query_param_matcher({"key": TWO})],
        )
        fake.post(f"{BASE}/key/delete", json={"deleted_keys": [ONE]})
        client.list_keys("bob@example.com")
        client.key_info(ONE)
        client.key_info(TWO)
        client.delete_key(ONE)
        client.list_keys("bob@example.com")
        client.key_info(ONE)
        client.key_info(TWO)
        assert _asked(fake, "/key/list") == ["bob@example.com", "bob@example.com"]
        assert _asked(fake, "/key/info") == [ONE, TWO, ONE]
