"""Several people writing at the same moment, over real HTTP on a multi-threaded server (on a
SQLite file, and on PostgreSQL in its pass): no "database is locked" 500s, every action has the
outcome it should, and a slow LiteLLM never makes other writers wait."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from http_portal import at_once

from app.models import ApiKey


def _statuses(responses) -> list[int]:
    return [r.status_code for r in responses]


def _texts(responses) -> list[str]:
    return [r.text[:300] for r in responses]


def test_four_users_sign_in_create_revoke_and_refresh_at_the_same_moment(serve_portal, sim):
    portal = serve_portal()
    users = [portal.user(f"user{i}@example.com") for i in range(4)]
    for user in users:
        user.fetch_csrf()

    # New users: four sign-ins insert four rows at once.
    assert _statuses(at_once([u.sign_in for u in users])) == [303] * 4
    for round_ in range(3):
        made = at_once([lambda u=u, r=round_: u.create_key(f"k{r}") for u in users])
        assert _statuses(made) == [201] * 4, _texts(made)
        # user0's key lost its token id: the usage view looks it up and writes it back.
        user0_key = portal.key_id("user0@example.com", f"k{round_}")
        portal.execute(
            sa.update(ApiKey).where(ApiKey.id == user0_key).values(litellm_token_id=None)
        )
        user3_key = portal.key_id("user3@example.com", f"k{round_}")
        mixed = at_once(
            [
                lambda k=user0_key: users[0].get(f"/usage?key={k}&preset=7d&refresh=1"),
                lambda r=round_: users[1].create_key(f"extra{r}"),
                lambda: users[2].sign_in(),
                lambda k=user3_key: users[3].post(f"/keys/{k}/revoke", {}, allow_redirects=False),
            ]
        )
        assert _statuses(mixed) == [200, 201, 303, 303], _texts(mixed)
        assert "Data as of" in mixed[0].text  # a report, not an error panel
        stored = portal.scalar(sa.select(ApiKey.litellm_token_id).where(ApiKey.id == user0_key))
        assert stored is not None
    assert portal.key_count() == 4 * 3 + 3
    assert (
        portal.scalar(
            sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_not(None))
        )
        == 3
    )
    assert len(sim.keys) == 4 * 3 + 3 - 3  # revoked keys are gone from LiteLLM


def test_one_user_firing_thirty_creates_gets_exactly_the_limit(serve_portal, sim):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="10/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    responses = at_once([lambda i=i: alice.create_key(f"key{i}") for i in range(30)])
    statuses = _statuses(responses)
    assert sorted(statuses) == [201] * 10 + [429] * 20, statuses
    assert portal.key_count() == 10
    assert len(sim.keys) == 10


def test_a_slow_litellm_call_holds_no_lock_other_writers_wait_for(serve_portal, sim):
    portal = serve_portal()
    alice, bob = portal.user("alice@example.com"), portal.user("bob@example.com")
    assert alice.sign_in().status_code == 303
    bob.fetch_csrf()
    sim.set_latency(3000)
    creates = []
    threads = [
        threading.Thread(target=lambda label=label: creates.append(alice.create_key(label)))
        for label in ("one", "two")
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 2.0
    while sim.count("/key/generate") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    # Both creates reached LiteLLM: the second did not wait behind the first one's call.
    assert sim.count("/key/generate") == 2
    signing_in = time.monotonic()
    assert bob.sign_in().status_code == 303  # a new user: a write
    bob_took = time.monotonic() - signing_in
    for thread in threads:
        thread.join(timeout=30)
    assert _statuses(creates) == [201, 201], _texts(creates)
    # Holding the write lock during the call would keep Bob waiting until it returns (3 s).
    assert bob_took < 1.5, f"a sign-in waited {bob_took:.1f} s behind a LiteLLM call"
