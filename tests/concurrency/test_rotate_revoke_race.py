"""Rotate and revoke of one key at the same moment, over real HTTP on a multi-threaded server
(a SQLite file, and PostgreSQL in its pass): revoke always wins. Whatever the interleaving,
LiteLLM keeps no live secret of a key the portal shows revoked."""

from __future__ import annotations

import re

import sqlalchemy as sa
from http_portal import at_once

from app.models import ApiKey

ROUNDS = 12
MARK_RE = re.compile(r'name="rotation_mark" value="([^"]*)"')


def _live_secrets_of(sim, email: str) -> list[str]:
    with sim.lock:
        return [row["token"] for row in sim.keys.values() if row["user_id"] == email]


def test_rotate_racing_revoke_never_leaves_a_live_secret_of_a_revoked_key(serve_portal, sim):
    portal = serve_portal()
    owner = portal.user("alice@example.com")
    assert owner.sign_in().status_code == 303
    outcomes = []
    for round_ in range(ROUNDS):
        label = f"race{round_}"
        assert owner.create_key(label).status_code == 201
        key_id = portal.key_id("alice@example.com", label)
        mark = MARK_RE.search(owner.get(f"/keys/{key_id}/rotate").text).group(1)
        rotate = lambda k=key_id, m=mark: owner.post(  # noqa: E731
            f"/keys/{k}/rotate", {"grace": "24h", "rotation_mark": m}
        )
        revoke = lambda k=key_id: owner.post(f"/keys/{k}/revoke", {}, allow_redirects=False)  # noqa: E731
        # Hold the revoke's deletes a little longer each round, and alternate which request
        # leaves first, so the revoke lands before, during and after the rotation's record.
        sim.clear_faults()
        sim.set_latency(15)  # every LiteLLM call takes a moment: the two requests interleave
        sim.set_hang("/key/delete", (round_ % 4) * 0.02)
        actions = [rotate, revoke] if round_ % 2 else [revoke, rotate]
        responses = at_once(actions)
        statuses = sorted(r.status_code for r in responses)
        outcomes.append(statuses)
        revoked = portal.scalar(sa.select(ApiKey.revoked_at).where(ApiKey.id == key_id))
        assert revoked is not None, (round_, [r.text[:300] for r in responses])
        assert _live_secrets_of(sim, "alice@example.com") == [], (round_, statuses)
    # The revokes all answered as revokes (303); rotations either won first or were refused.
    assert all(303 in statuses for statuses in outcomes), outcomes
