"""Maintenance commands registered on ``flask``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
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


def finish_report(report: Any, *, as_json: bool, print_text: Callable[[Any], None]) -> None:
    """End a maintenance command the same way everywhere: its report as JSON (``--json``) or
    as text, an error line on stderr when it could not run, and its exit status."""
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_text(report)
    if report.error is not None:
        click.echo(f"Error: {report.error}", err=True)
    sys.exit(report.exit_status)
