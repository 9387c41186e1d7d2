"""``flask seed-demo`` creates portal rows matching the simulator's demo keys."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.litellm_sim.seed import demo_keys
from app.models import ApiKey, User


def test_seed_demo_matches_the_simulator_and_is_idempotent(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["seed-demo"])
    assert "0 keys created" in again.output
    with app.app_context():
        keys = {k.alias: k for k in db.session.scalars(sa.select(ApiKey))}
        users = {u.email for u in db.session.scalars(sa.select(User))}
    demo = demo_keys()
    assert set(keys) == {d["alias"] for d in demo}
    assert users == {d["user_id"] for d in demo}
    for d in demo:
        key = keys[d["alias"]]
        if key.label == "ci":  # left without a token id, like a key from before the column
            assert key.litellm_token_id is None
        else:
            assert key.litellm_token_id == d["token"]
        assert d["secret"] not in (key.key_prefix or "")


def test_seed_demo_refused_in_production(app, runner):
    app.config["PORTAL_ENV"] = "production"
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "demo only" in result.output


def test_the_demo_tells_one_story(app, runner):
    """The demo keys were made before their history begins (portal rows and LiteLLM alike),
    and the models the create form offers are the models the demo usage names."""
    from app.litellm_sim import SimState
    from app.litellm_sim.seed import DAYS, MODELS, load_demo

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    state = SimState(0)
    load_demo(state)
    first_usage = min(row["date"] for row in state.rows)
    with app.app_context():
        rows = list(db.session.scalars(sa.select(ApiKey)))
        for key in rows:
            made = key.created_at.date().isoformat()
            assert made < first_usage and key.litellm_created_at is not None, key.label
            listed = state.keys[key.litellm_token_id or _token_of(key.alias)]["created_at"]
            assert listed[:10] == made  # LiteLLM's created_at is the portal row's
    assert len({row["date"] for row in state.rows}) == DAYS
    assert state.models == [model for model, *_ in MODELS]
    assert {row["model"] for row in state.rows} <= set(state.models)


def _token_of(alias: str) -> str:
    return next(d["token"] for d in demo_keys() if d["alias"] == alias)
