"""Fixtures for the backfill-tokens tests: bulk seeding of portal rows and simulator keys."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import ApiKey, User


def seed(app, sim, *, users: int, keys_per_user: int, prefix: str = "u") -> dict[int, str]:
    """``users`` portal users with ``keys_per_user`` pending keys each, all known to LiteLLM.

    Returns {api_keys.id: the token LiteLLM has for it}.
    """
    expected: dict[int, str] = {}
    with app.app_context():
        for u in range(users):
            email = f"{prefix}{u}@example.com"
            user = User(email=email, litellm_user_id=email, display_name=f"{prefix}{u}")
            db.session.add(user)
            db.session.flush()
            for k in range(keys_per_user):
                alias = f"{email}--key{k}"
                token = sim.add_key(key_alias=alias, user_id=email)["token"]
                row = ApiKey(user_id=user.id, name=alias, label=f"key{k}")
                db.session.add(row)
                db.session.flush()
                expected[row.id] = token
        db.session.commit()
    return expected


def noise(sim, count: int, owner: str = "someone-else") -> None:
    """LiteLLM keys the portal does not know (they make the global sweep longer)."""
    for i in range(count):
        sim.add_key(key_alias=f"noise-{owner}-{i}", user_id=owner)


def stored_tokens(app) -> dict[int, str | None]:
    """{api_keys.id: litellm_token_id} as the database has it now."""
    with app.app_context():
        rows = db.session.execute(sa_select_tokens()).all()
        db.session.rollback()
    return dict(rows)


def sa_select_tokens():
    import sqlalchemy as sa

    return sa.select(ApiKey.id, ApiKey.litellm_token_id).order_by(ApiKey.id)


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
