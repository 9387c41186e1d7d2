"""resolve_token / resolve_missing_tokens: alias lookup once, written back, user-scoped."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import ApiKey, User
from app.services.tokens import UnknownAlias, resolve_missing_tokens, resolve_token


def test_stored_token_needs_no_lookup(app, sim, make_user, make_key):
    key = make_key(make_user("alice@example.com"), "laptop")
    with app.app_context():
        assert resolve_token(db.session.get(ApiKey, key.id)) == key.token
    assert sim.count() == 0


def test_missing_token_is_found_by_alias_and_stored(app, sim, make_user, make_key):
    alice = make_user("alice@example.com")
    key = make_key(alice, "laptop", store_token=False)
    make_key(alice, "other")
    with app.app_context():
        assert resolve_token(db.session.get(ApiKey, key.id)) == key.token
        assert db.session.get(ApiKey, key.id).litellm_token_id == key.token
        assert resolve_token(db.session.get(ApiKey, key.id)) == key.token
    assert sim.count("/key/list") == 1
    query = next(q for m, p, q in sim.calls if p == "/key/list")
    assert query["user_id"] == "alice@example.com"


def test_unknown_alias_raises_a_readable_error(app, sim, make_user, make_key):
    key = make_key(make_user("alice@example.com"), "ghost", store_token=False, in_litellm=False)
    with app.app_context(), pytest.raises(UnknownAlias) as excinfo:
        resolve_token(db.session.get(ApiKey, key.id))
    assert str(excinfo.value) == f"LiteLLM has no key with alias “{key.alias}”."


def test_a_key_listed_for_a_substring_user_is_not_taken(app, sim, make_user, make_key):
    """A proxy matching user_id by substring (1.84–1.89) lists alice2's keys for alice."""
    sim.set_substring_matching(True)
    alice = make_user("alice@example.com")
    theirs = sim.add_key(key_alias="dup", user_id="xalice@example.com")
    mine = make_key(alice, "laptop", store_token=False, in_litellm=False, alias="dup")
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert resolve_missing_tokens(user, [db.session.get(ApiKey, mine.id)]) == {}
        assert db.session.get(ApiKey, mine.id).litellm_token_id is None
    assert theirs["token"]


def test_one_sweep_resolves_many_keys(app, sim, make_user, make_key):
    alice = make_user("alice@example.com")
    keys = [make_key(alice, f"k{i}", store_token=False) for i in range(4)]
    with app.app_context():
        user = db.session.get(User, alice.id)
        rows = [db.session.get(ApiKey, k.id) for k in keys]
        assert resolve_missing_tokens(user, rows) == {k.id: k.token for k in keys}
    assert sim.count("/key/list") == 1
