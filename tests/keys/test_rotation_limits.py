"""Rotation cannot be turned against the portal: it carries everything that limits the key as
LiteLLM has it, refuses a blocked key, cannot multiply the budget (one grace secret, half of
what is left, the old secret expiring in LiteLLM itself), is rate limited, and loses every race
against a revoke (simulator over HTTP)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, ApiKeyToken, utcnow
from app.services import rotation
from app.services.rotation_carry import CARRIED, NOT_CARRIED, unnamed_fields
from app.services.token_retirement import retire_due

SEEN_RE = re.compile(r'name="rotation_mark" value="([^"]*)"')
# The repo's copy of a /key/info answer captured from a real 1.108.7 (see tests/sim/conftest.py).
CAPTURED = Path(__file__).parents[1] / "sim" / "contract" / "real-1.108.7"


@pytest.fixture
def rotate(client, csrf_token):
    def post(key_id: int, grace: str = "1h"):
        page = client.get(f"/keys/{key_id}/rotate").get_data(as_text=True)
        match = SEEN_RE.search(page)
        assert match, page
        form = {"csrf_token": csrf_token(), "grace": grace, "rotation_mark": match.group(1)}
        return client.post(f"/keys/{key_id}/rotate", data=form)

    return post


def _token_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _live_of(sim, user_id: str = "alice@example.com") -> list[dict]:
    return [row for row in sim.keys.values() if row["user_id"] == user_id]


def _spendable(row: dict, now: dt.datetime) -> float:
    """What a live LiteLLM key may still spend (inf without a budget; 0 once expired)."""
    expires = row.get("expires")
    if expires and dt.datetime.fromisoformat(expires.replace("Z", "+00:00")) <= now:
        return 0.0
    if row.get("max_budget") is None:
        return float("inf")
    return max(0.0, row["max_budget"] - (row["spend"] or 0.0))


# --- what is carried ------------------------------------------------------------------------


def test_every_field_of_a_captured_key_info_is_named_carried_or_not():
    """A field LiteLLM adds to /key/info must be classified before rotations can forget it."""
    captured = CAPTURED / "key_info.json"
    info = json.loads(captured.read_text())["info"]
    assert unnamed_fields(info) == set()
    assert unnamed_fields({**info, "brand_new_limit": 5}) == {"brand_new_limit"}
    assert not set(CARRIED) & set(NOT_CARRIED)


def test_rotation_carries_every_limit_an_admin_set_in_litellm(
    client, alice, make_key, rotate, sim, secret_in
):
    key = make_key(alice, "laptop")
    limits = {
        "max_parallel_requests": 3,
        "tpd_limit": 50_000,
        "rpm_limit": 60,
        "tpm_limit": 1000,
        "model_max_budget": {"mock-gpt": {"budget_limit": 2.0}},
        "allowed_routes": ["/chat/completions"],
        "team_id": "team-42",
        "aliases": {"fast": "mock-gpt"},
        "models": ["mock-gpt"],
        "max_budget": 25.0,
        "budget_duration": "1mo",
        "key_type": "llm_api",
        "permissions": {"pii_masking": True},
    }
    with sim.lock:
        sim.keys[key.token].update(limits)
        sim.keys[key.token]["metadata"] = {
            "env": "prod",
            "cost_center": 7,
            "created_by": "someone-else",  # the portal's own entries are renewed, never copied
        }

    secret = secret_in(rotate(key.id, "none"))

    new = sim.keys[_token_of(secret)]
    assert {name: new[name] for name in limits} == limits
    assert new["metadata"]["env"] == "prod" and new["metadata"]["cost_center"] == 7
    assert new["metadata"]["created_by"] == "litellm-key-portal"
    assert new["metadata"]["rotated_from"] == key.token[:12]
    assert new["metadata"]["portal_deployment"]


@pytest.mark.parametrize("grace", ["none", "1h"])
def test_a_key_blocked_in_litellm_cannot_be_rotated(client, alice, make_key, rotate, sim, grace):
    key = make_key(alice, "laptop")
    with sim.lock:
        sim.keys[key.token]["blocked"] = True

    response = rotate(key.id, grace)

    assert response.status_code == 409
    assert "blocked in LiteLLM" in response.get_data(as_text=True)
    assert sim.count("/key/generate", "POST") == 0
    assert sim.keys[key.token]["blocked"] is True and sim.keys[key.token]["key_alias"] == key.alias


# --- the budget cannot be multiplied ----------------------------------------------------------


@pytest.fixture
def budget_key(client, alice, create_form, rows, sim):
    """``budget_key()`` → a key made with a budget of 10 that has spent 2 so far."""

    def make() -> ApiKey:
        made = client.post("/keys", data=create_form(name="laptop", max_budget="10"))
        assert made.status_code == 201
        key = rows()[-1]
        _spend(sim, key.litellm_token_id, 2.0)
        return key

    return make


def _spend(sim, token: str, amount: float) -> None:
    sim.add_usage(token=token, date=utcnow().date(), model="m", provider="p",
                  prompt_tokens=1, completion_tokens=1, spend=amount)  # fmt: skip


def test_the_old_secret_gets_its_grace_end_in_litellm_and_half_of_what_is_left(
    budget_key, rotate, sim, secret_in
):
    key = budget_key()
    old_token = key.litellm_token_id
    before = utcnow()

    response = rotate(key.id, "1h")

    text = response.get_data(as_text=True)
    assert "may spend at most $4.00 more" in text
    old, new = sim.keys[old_token], sim.keys[_token_of(secret_in(response))]
    expires = dt.datetime.fromisoformat(old["expires"].replace("Z", "+00:00"))
    assert before + dt.timedelta(minutes=59) < expires <= utcnow() + dt.timedelta(hours=1)
    assert old["max_budget"] == pytest.approx(6.0)  # spent 2 + its share 4
    assert (new["max_budget"], new["spend"]) == (10, pytest.approx(6.0))
    now = utcnow()
    assert sum(_spendable(r, now) for r in _live_of(sim)) == pytest.approx(8.0)


def test_twenty_rotations_in_a_row_never_leave_more_than_the_budget_spendable(
    app, client, alice, create_form, rows, rotate, sim, secret_in
):
    assert client.post("/keys", data=create_form(name="laptop", max_budget="10")).status_code == 201
    key = rows()[-1]
    for _ in range(20):
        assert secret_in(rotate(key.id, "24h")) is not None
        live = _live_of(sim)
        assert len(live) <= 2  # the current secret and at most one in its grace
        assert sum(_spendable(r, utcnow()) for r in live) <= 10.0 + 1e-9


def test_rotating_again_ends_the_earlier_grace_and_the_page_says_so(
    app, client, alice, make_key, rotate, sim, secret_in
):
    key = make_key(alice, "laptop")
    assert secret_in(rotate(key.id, "24h")) is not None
    page = client.get(f"/keys/{key.id}/rotate").get_data(as_text=True)
    assert "rotating again stops it at once" in page

    assert secret_in(rotate(key.id, "24h")) is not None

    assert key.token not in sim.keys and key.token in sim.deleted
    assert len(_live_of(sim)) == 2


def test_what_the_old_secret_left_of_its_share_comes_back_when_its_grace_ends(
    app, budget_key, rotate, sim, secret_in
):
    key = budget_key()
    old_token = key.litellm_token_id
    new_token = _token_of(secret_in(rotate(key.id, "1h")))
    _spend(sim, old_token, 1.0)

    with app.app_context():
        report = retire_due([key.id], now=utcnow() + dt.timedelta(hours=2))

    assert report.deleted and report.given_back
    assert old_token in sim.deleted
    # Spent in all: 2 before, 1 by the old secret in its grace; 7 left, all on the new secret.
    assert sim.keys[new_token]["spend"] == pytest.approx(3.0)


def test_rotations_count_against_the_owners_rate_limit(app, client, alice, make_key, rotate, sim):
    app.config["RATE_LIMIT_KEY_ROTATE"] = "2/hour"
    key = make_key(alice, "laptop")
    assert [rotate(key.id, "none").status_code for _ in range(3)] == [200, 200, 429]
    assert sim.count("/key/generate", "POST") == 2
    other = make_key(alice, "desk")  # the limit is the owner's, not the key's
    response = rotate(other.id, "none")
    assert response.status_code == 429
    assert "rotated too many secrets recently" in response.get_data(as_text=True)


def test_a_grace_none_rotation_whose_delete_fails_says_the_old_secret_still_works(
    app, client, alice, make_key, rotate, sim
):
    key = make_key(alice, "laptop")
    sim.set_fault("/key/delete", 500)

    response = rotate(key.id, "none")

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The old secret no longer works." not in text
    assert "did not delete the old secret yet" in text
    sim.clear_faults()


# --- revoke always wins -------------------------------------------------------------------------


def _revoke_in_thread(app, key_id: int, admin_email: str = "alice@example.com") -> None:
    from app.models import User
    from app.services.keys import revoke_key

    def run():
        with app.app_context():
            key = db.session.get(ApiKey, key_id)
            actor = db.session.scalar(sa.select(User).where(User.email == admin_email))
            revoke_key(key, actor=actor)
            db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)


def test_a_revoke_while_litellm_makes_the_new_secret_wins(
    app, client, alice, make_key, rotate, sim, secret_in, monkeypatch
):
    key = make_key(alice, "laptop")
    real_record = rotation._record

    def revoke_first(key_id, *args, **kwargs):
        db.session.commit()  # in-memory SQLite: one connection, so no transaction left open
        _revoke_in_thread(app, key_id)  # the revoke lands between /key/generate and the record
        return real_record(key_id, *args, **kwargs)

    monkeypatch.setattr(rotation, "_record", revoke_first)

    response = rotate(key.id, "1h")

    assert response.status_code == 409 and secret_in(response) is None
    assert "revoked meanwhile" in response.get_data(as_text=True)
    assert _live_of(sim) == []
    with app.app_context():
        assert db.session.get(ApiKey, key.id).revoked_at is not None


def test_a_revoke_right_after_the_record_deletes_the_new_secret_too(
    app, client, alice, make_key, rotate, sim, secret_in, monkeypatch
):
    key = make_key(alice, "laptop")
    real_record = rotation._record

    def revoke_after(key_id, *args, **kwargs):
        result = real_record(key_id, *args, **kwargs)
        db.session.commit()
        _revoke_in_thread(app, key_id)  # the revoke had read the old token before
        return result

    monkeypatch.setattr(rotation, "_record", revoke_after)
    rotate(key.id, "1h")

    assert _live_of(sim) == []
    with app.app_context():
        assert db.session.get(ApiKey, key.id).revoked_at is not None
        undeleted = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ApiKeyToken)
            .where(ApiKeyToken.api_key_id == key.id, ApiKeyToken.deleted_at.is_(None))
        )
        assert undeleted == 0
