"""Several people writing at the same moment, over real HTTP on a multi-threaded server: no
"database is locked" 500s, and each action has the outcome it should."""

from __future__ import annotations

from http_portal import at_once


def _statuses(responses) -> list[int]:
    return [r.status_code for r in responses]


def test_four_users_sign_in_create_and_refresh_at_the_same_moment(serve_portal, sim):
    portal = serve_portal()
    users = [portal.user(f"user{i}@example.com") for i in range(4)]
    for user in users:
        user.fetch_csrf()

    # New users: four sign-ins insert four rows at once.
    assert _statuses(at_once([u.sign_in for u in users])) == [303] * 4
    for round_ in range(3):
        responses = at_once([lambda u=u: u.create_key(f"k{round_}") for u in users])
        assert _statuses(responses) == [201] * 4, [r.text[:300] for r in responses]
        mixed = at_once(
            [
                lambda: users[0].get("/usage?preset=7d&refresh=1"),
                lambda: users[1].create_key(f"extra{round_}"),
                lambda: users[2].sign_in(),
                lambda: users[3].get("/usage?preset=7d&refresh=1"),
            ]
        )
        assert _statuses(mixed) == [200, 201, 303, 200], [r.text[:300] for r in mixed]
    assert portal.key_count() == 4 * 3 + 3
    assert len(sim.keys) == 4 * 3 + 3


def test_one_user_firing_thirty_creates_gets_exactly_the_limit(serve_portal, sim):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="10/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    responses = at_once([lambda i=i: alice.create_key(f"key{i}") for i in range(30)])
    statuses = _statuses(responses)
    assert sorted(statuses) == [201] * 10 + [429] * 20, statuses
    assert portal.key_count() == 10
    assert len(sim.keys) == 10
