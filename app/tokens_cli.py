"""``flask retire-tokens``: the cron face of :mod:`app.services.token_retirement`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.services.backfill import build_backfill_client
from app.services.external_tokens import sweep_regenerated
from app.services.litellm import LiteLLMError
from app.services.token_retirement import retire_due


@click.command("retire-tokens")
@click.option(
    "--no-sweep",
    is_flag=True,
    help="Skip the /key/list sweep for keys regenerated outside the portal.",
)
@with_appcontext
def retire_tokens_command(no_sweep: bool) -> None:
    """Delete old secrets whose grace period has ended; adopt keys regenerated elsewhere.

    A rotated key's old secret keeps working until the grace period its owner chose, then it
    is deleted in LiteLLM by the next request that touches the key, or by this command. Run it
    from cron so no old secret outlives its grace by more than the cron interval, e.g.
    ``*/5 * * * * cd /srv/portal && flask --app wsgi retire-tokens``. Safe while the portal
    serves and while another run is under way: each old secret is deleted once.

    It also sweeps LiteLLM's key list once: a key regenerated outside the portal (Enterprise
    /key/regenerate) gets its new token id recorded, audited, and its old one deleted.

    Exit status: 0 done, 1 some old secrets could not be deleted (the next run retries them),
    2 the sweep could not read LiteLLM's key list.
    """
    status = 0
    adopted = 0
    if not no_sweep:
        client = build_backfill_client(current_app.config, current_app.instance_path)
        try:
            adopted = sweep_regenerated(client)
        except LiteLLMError as exc:
            click.echo(f"sweep for regenerated keys failed: {exc}", err=True)
            status = 2
        finally:
            client.close()
    report = retire_due()
    click.echo(
        f"{len(report.deleted)} old secret(s) deleted, {len(report.failed)} failed, "
        f"{adopted} key(s) regenerated outside the portal adopted"
    )
    for row_id, message in report.failed:
        click.echo(f"  token row #{row_id}: {message}", err=True)
    if report.failed and status == 0:
        status = 1
    raise SystemExit(status)
