"""The key-creation limit holds under parallel requests on both databases, and counts only
keys made and LiteLLM's refusals of the user's own input, never portal or upstream failures."""

from __future__ import annotations

import pytest
from http_portal import at_once

UPSTREAM_FAILURES = {
    # LiteLLM answers 503 (POSTs are never retried), 500, or 200 with an HTML page.
    "unavailable": lambda sim: sim.set_fault("/key/generate", 503),
    "server-error": lambda sim: sim.set_fault("/key/generate", 500),
    "garbage": lambda sim: sim.set_garbage("/key/generate", "html"),
}


def test_parallel_creates_on_top_of_earlier_ones_stop_at_the_limit(serve_portal, sim):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="10/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    for i in range(9):
        assert alice.create_key(f"early{i}").status_code == 201
    statuses = [
        r.status_code for r in at_once([lambda i=i: alice.create_key(f"p{i}") for i in range(8)])
    ]
    assert sorted(statuses) == [201] + [429] * 7, statuses
    assert portal.key_count() == 10 and len(sim.keys) == 10
    assert portal.rate_limit_hits() == 10


@pytest.mark.parametrize("failure", sorted(UPSTREAM_FAILURES))
def test_a_litellm_failure_does_not_use_a_slot(serve_portal, sim, failure):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="2/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    UPSTREAM_FAILURES[failure](sim)
    for attempt in range(3):
        response = alice.create_key(f"try{attempt}")
        assert response.status_code in (502, 503), response.text[:300]
    assert portal.rate_limit_hits() == 0
    sim.clear_faults()
    assert [alice.create_key(label).status_code for label in ("a", "b", "c")] == [201, 201, 429]
    assert portal.key_count() == 2


def test_litellm_unreachable_does_not_use_a_slot(serve_portal, sim, sim_server):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="1/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    sim_server.shutdown()
    try:
        response = alice.create_key("down")
    finally:
        sim_server.restart()
    assert response.status_code == 503 and "LiteLLM is unreachable" in response.text
    assert portal.rate_limit_hits() == 0
    assert alice.create_key("up").status_code == 201


def test_litellm_refusing_the_users_input_uses_a_slot(serve_portal, sim):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="2/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    sim.models.clear()  # no model list: the portal passes the names on as typed
    sim.set_fault("/key/generate", 400, times=1)  # e.g. a model the proxy does not serve
    refused = alice.create_key("bad", models="no-such-model")
    assert refused.status_code == 409 and "LiteLLM refused the key" in refused.text
    assert portal.rate_limit_hits() == 1
    assert [alice.create_key(label).status_code for label in ("a", "b")] == [201, 429]


def test_a_row_the_portal_cannot_save_does_not_use_a_slot(serve_portal, sim, failing_key_rows):
    portal = serve_portal(RATE_LIMIT_KEY_CREATE="1/hour")
    alice = portal.user("alice@example.com")
    assert alice.sign_in().status_code == 303
    response = alice.create_key("lost")
    assert response.status_code == 503 and "deleted again" in response.text
    assert sim.keys == {}  # the LiteLLM key was deleted again
    assert portal.rate_limit_hits() == 0
