"""Bulk seeding helpers for the backfill-tokens tests (portal rows + simulator keys)."""

from __future__ import annotations

import sqlalchemy as sa

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
                row = ApiKey(user_id=user.id, alias=alias, label=f"key{k}")
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
        rows = db.session.execute(
            sa.select(ApiKey.id, ApiKey.litellm_token_id).order_by(ApiKey.id)
        ).all()
        db.session.rollback()
    return dict(rows)
