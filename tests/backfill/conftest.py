"""Fixtures for the backfill-tokens tests: bulk seeding of portal rows and simulator keys."""

from __future__ import annotations

import pytest
from backfill_seed import seed, stored_tokens


@pytest.fixture
def seeded(app, sim):
    """``seeded(users=…, keys_per_user=…)`` → {key id: expected token} (see :func:`seed`)."""

    def make(**kwargs) -> dict[int, str]:
        return seed(app, sim, **kwargs)

    return make


@pytest.fixture
def tokens(app):
    """``tokens()`` → {key id: stored token id or None}."""
    return lambda: stored_tokens(app)


@pytest.fixture
def key_list_calls(sim):
    """``key_list_calls()`` → the query strings of every GET /key/list the simulator served."""
    return lambda: [q for m, p, q in sim.calls if p == "/key/list" and m == "GET"]
