"""Maintenance commands registered on ``flask``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.backfill_cli import backfill_tokens_command
    from app.reconcile_cli import reconcile_keys_command
    from app.tokens_cli import retire_tokens_command

    app.cli.add_command(backfill_tokens_command)
    app.cli.add_command(retire_tokens_command)
    app.cli.add_command(reconcile_keys_command)
    if app.config.get("PORTAL_ENV") == "production":
        return  # the simulator and its demo data are development and test tooling
    from app.demo_cli import seed_demo_command
    from app.litellm_sim.cli import litellm_sim_command

    app.cli.add_command(litellm_sim_command)
    app.cli.add_command(seed_demo_command)
