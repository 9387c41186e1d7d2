"""app.services.keys called directly: naming, revoke variants, listing with LiteLLM numbers."""

from __future__ import annotations

import hashlib

import pytest

from app.extensions import db
from app.models import ApiKey, AuditEvent, User
from app.services import key_listing
from app.services import keys as key_service


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.com", "alice-example.com"),
        ("Bob.Smith+ops@Example.COM", "bob.smith-ops-example.com"),
        ("team_a-1", "team_a-1"),
        ("x y/z", "x-y-z"),
    ],
)
def test_slug(value, expected):
    assert key_service.slug(value) == expected


def test_alias_fits_the_name_column():
    owner = User(email="a@b.c", litellm_user_id="u" * 320)
    alias = key_service.alias_for(owner, "l" * 64)
    assert len(alias) == 255 and alias.endswith("--" + "l" * 64)


def test_create_key_service(app, make_user, sim):
    alice = make_user("alice@example.com")
    with app.app_context():
        owner = db.session.get(User, alice.id)
        request = key_service.NewKeyRequest(label="laptop", idempotency_token="t" * 32)
        created = key_service.create_key(owner, request)
        assert "sk-" not in repr(created)  # the secret is excluded from repr
        token = hashlib.sha256(created.secret.encode()).hexdigest()
        assert created.key.litellm_token_id == token
        assert sim.keys[token]["user_id"] == "alice@example.com"
        event = db.session.query(AuditEvent).filter_by(action="key.create").one()
        assert event.target_key_id == created.key.id and created.secret not in (event.detail or "")
        with pytest.raises(key_service.AlreadyCreated):
            key_service.create_key(owner, request)
        with pytest.raises(key_service.DuplicateLabel):
            key_service.create_key(owner, key_service.NewKeyRequest("laptop", "u" * 32))
    assert sim.count("/key/generate") == 1


def test_revoke_by_alias_while_token_unknown(app, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    key = make_key(alice, "legacy", store_token=False)
    with app.app_context():
        row = db.session.get(ApiKey, key.id)
        result = key_service.revoke_key(row, actor=row.user)
        assert not result.already_revoked and not result.gone_in_litellm
        assert row.revoked_at is not None
    assert key.token not in sim.keys
    assert sim.calls[-1][1] == "/key/delete"


def test_revoke_counts_litellm_404_as_revoked(app, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    key = make_key(alice, "gone", in_litellm=False)
    with app.app_context():
        row = db.session.get(ApiKey, key.id)
        result = key_service.revoke_key(row, actor=row.user)
        assert result.gone_in_litellm and row.revoked_at is not None
        event = db.session.query(AuditEvent).filter_by(action="key.revoke").one()
        assert "already gone" in event.detail


def test_revoking_a_revoked_key_calls_nobody(app, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    key = make_key(alice, "old", revoked=True, in_litellm=False)
    sim.reset_calls()
    with app.app_context():
        row = db.session.get(ApiKey, key.id)
        assert key_service.revoke_key(row, actor=row.user).already_revoked
    assert sim.count() == 0


def test_admin_can_revoke_someone_elses_key(app, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    admin = make_user("admin@example.com", is_admin=True)
    key = make_key(alice, "laptop")
    with app.app_context():
        row = db.session.get(ApiKey, key.id)
        key_service.revoke_key(row, actor=db.session.get(User, admin.id))
        event = db.session.query(AuditEvent).filter_by(action="key.revoke").one()
        assert event.actor_user_id == admin.id and event.target_user_id == alice.id
        assert '"by_owner": false' in event.detail
    assert key.token not in sim.keys


def test_listing_matches_by_token_and_by_alias(app, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    known = make_key(alice, "known")
    legacy = make_key(alice, "legacy", store_token=False)
    make_key(bob, "bobs")
    sim.keys[known.token]["spend"] = 2.5
    sim.keys[legacy.token]["spend"] = 0.75
    sim.keys[legacy.token]["max_budget"] = 3.0
    sim.reset_calls()
    with app.app_context():
        listing = key_listing.list_keys_for_user(db.session.get(User, alice.id))
    assert listing.litellm_loaded and listing.notice is None
    by_label = {row.key.label: row for row in listing.rows}
    assert set(by_label) == {"known", "legacy"}
    assert by_label["known"].spend == 2.5 and by_label["known"].token_known
    assert by_label["legacy"].spend == 0.75 and by_label["legacy"].max_budget == 3.0
    # Its token id is looked up by alias in the same (cached) list and stored, as /usage does,
    # so the key's lifetime figures are there too and no page changes them later.
    assert by_label["legacy"].token_known and by_label["legacy"].usage is not None
    with app.app_context():
        assert db.session.get(ApiKey, legacy.id).litellm_token_id == legacy.token
    assert sim.count("/key/list") == 1


def test_listing_without_litellm(app, make_user, make_key, sim):
    alice = make_user("alice@example.com")
    make_key(alice, "laptop")
    sim.set_fault("/key/list", 500)
    with app.app_context():
        listing = key_listing.list_keys_for_user(db.session.get(User, alice.id))
        assert not listing.litellm_loaded and "spend is not shown" in listing.notice
        assert [r.key.label for r in listing.rows] == ["laptop"]
        sim.reset_calls()
        offline = key_listing.list_keys_for_user(db.session.get(User, alice.id), with_litellm=False)
        assert len(offline.rows) == 1 and sim.count() == 0
