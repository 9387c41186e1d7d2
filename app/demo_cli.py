"""``flask seed-demo``: portal rows for the simulator's demo keys, so ``scripts/run`` shows data."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db
from app.models import ApiKey, User


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--without-tokens",
    default="ci",
    show_default=True,
    help="Comma-separated key labels created WITHOUT litellm_token_id, as keys from before the "
    "column existed (so `flask backfill-tokens` and the alias fallback have something to do).",
)
def seed_demo_command(without_tokens: str) -> None:
    """Create the demo users and their keys (matching the simulator's demo seed).

    Idempotent: existing users and keys are left as they are. Only for the demo set-up of
    ``scripts/run``; it refuses to run in production.
    """
    if current_app.config.get("PORTAL_ENV") == "production":
        raise click.ClickException("seed-demo is for the local demo only")
    from app.litellm_sim.seed import demo_keys

    legacy_labels = {label.strip() for label in without_tokens.split(",") if label.strip()}
    created = 0
    for demo in demo_keys():
        email = demo["user_id"]
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is None:
            user = User(email=email, litellm_user_id=email, display_name=email.split("@")[0])
            db.session.add(user)
            db.session.flush()
        if db.session.scalar(sa.select(ApiKey).where(ApiKey.alias == demo["alias"])):
            continue
        label = demo["alias"].split("--", 1)[1]
        db.session.add(
            ApiKey(
                user_id=user.id,
                alias=demo["alias"],
                label=label,
                key_prefix=f"sk-...{demo['secret'][-4:]}",
                litellm_token_id=None if label in legacy_labels else demo["token"],
                # Made when LiteLLM made it, before its history began (not today).
                created_at=demo["created_at"],
                litellm_created_at=demo["created_at"],
            )
        )
        created += 1
    db.session.commit()
    click.echo(f"demo data: {created} keys created")
