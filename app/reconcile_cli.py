"""``flask reconcile-keys``: the click face of :mod:`app.services.reconcile`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli import finish_report
from app.services.reconcile import (
    Outcome,
    ReconcileError,
    ReconcileReport,
    build_reconcile_client,
    run_reconcile,
)

_LABELS = {
    Outcome.IN_SYNC: "in sync",
    Outcome.UPDATED: "updated",
    Outcome.EXPIRED: "expired in LiteLLM",
    Outcome.BLOCKED: "blocked in LiteLLM",
    Outcome.MISSING: "deleted in LiteLLM",
    Outcome.ORPHAN: "orphan",
    Outcome.ADOPTED: "adopted",
    Outcome.ORPHAN_DELETED: "orphan deleted",
    Outcome.REVOKED_BUT_LIVE: "revoked but live",
    Outcome.OWNER_MISMATCH: "owner mismatch",
    Outcome.TOKEN_MISMATCH: "token mismatch",
    Outcome.REGENERATED: "regenerated in LiteLLM, new token adopted",
}


@click.command("reconcile-keys")
@click.option("--dry-run", is_flag=True, help="Compare and report, change nothing.")
@click.option("--user", "user_email", metavar="EMAIL", help="Only this user's keys.")
@click.option(
    "--delete-orphans",
    is_flag=True,
    help="Delete orphans the portal made (metadata created_by) in LiteLLM; audited.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (only that).")
@with_appcontext
def reconcile_keys_command(
    dry_run: bool, user_email: str | None, delete_orphans: bool, as_json: bool
) -> None:
    """Compare the portal's keys with LiteLLM's and repair what drifted.

    Sweeps LiteLLM's /key/list (one global sweep or one per portal user, whichever needs fewer
    pages) and reports per key: in sync; updated (spend, budget, expiry, models or blocked
    differed: the portal's copy now holds LiteLLM's); expired or blocked in LiteLLM; deleted in
    LiteLLM (marked, shown to the owner as such, history kept); orphan (a LiteLLM key of a
    portal user named like a portal key, with no portal row): adopted when it carries the
    request id of a portal key creation that timed out, deleted with --delete-orphans when the
    portal made it, else reported; revoked but live; owner or token mismatch.

    Every write is guarded by what was read, so it is safe while the portal serves and while
    another run goes on. Cron-friendly: prints only the keys that are not in sync, then a
    summary line.

    Exit status: 0 in sync or fixed; 1 drift left (orphans, mismatches, revoked keys still live,
    or anything --dry-run would change); 2 it could not run (LiteLLM unreachable or refusing
    the master key, database error, unknown --user).
    """
    app = current_app._get_current_object()
    client = build_reconcile_client(app.config, app.instance_path)
    try:
        report = run_reconcile(
            client, dry_run=dry_run, user_email=user_email, delete_orphans=delete_orphans
        )
    except ReconcileError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        client.close()
    finish_report(report, as_json=as_json, print_text=_print_text)


def _print_text(report: ReconcileReport) -> None:
    for r in report.results:
        if r.outcome is Outcome.IN_SYNC:
            continue
        where = f"#{r.key_id}" if r.key_id is not None else "(no portal row)"
        line = f"{_LABELS[r.outcome]:<18} {where} {r.alias!r} (owner {r.owner!r})"
        details = [*r.changes, r.detail] if r.detail else list(r.changes)
        if details:
            line += ": " + "; ".join(details)
        click.echo(line)
    parts = [f"{n} {_LABELS[Outcome(o)]}" for o, n in report.counts().items() if n]
    summary = ", ".join(parts) if parts else "no keys"
    changed = "dry run, nothing changed" if report.dry_run else "changes written"
    click.echo(
        f"reconcile-keys: {summary} ({changed}; {report.litellm_calls} LiteLLM calls, "
        f"{report.pages} pages, mode {report.mode})"
    )
