"""``flask backfill-tokens``: the click face of :mod:`app.services.backfill`."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli import finish_report
from app.services.backfill import (
    DEFAULT_BATCH_SIZE,
    BackfillError,
    BackfillReport,
    Outcome,
    build_backfill_client,
    run_backfill,
)

_LABELS = {
    Outcome.RESOLVED: "resolved",
    Outcome.NOT_FOUND: "not found in LiteLLM",
    Outcome.AMBIGUOUS: "ambiguous",
    Outcome.CONFLICT: "conflict",
    Outcome.OWNER_MISMATCH: "owner mismatch",
    Outcome.SKIPPED: "skipped",
    Outcome.VERIFIED: "verified",
    Outcome.MISMATCH: "mismatch",
    Outcome.ADOPTED: "adopted (regenerated outside the portal)",
}


def stderr_is_tty() -> bool:
    """Whether to draw a progress bar (module-level so tests can pretend to be a terminal)."""
    return sys.stderr.isatty()


class _Bar:
    """A click progress bar on stderr whose length is learnt while sweeping."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="LiteLLM /key/list", file=sys.stderr)
            self.bar.__enter__()
        self.bar.length = max(total, done)
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("backfill-tokens")
@click.option("--dry-run", is_flag=True, help="Resolve and report, write nothing.")
@click.option("--user", "user_email", metavar="EMAIL", help="Only this user's keys.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Keys written per committed transaction.",
)
@click.option("--include-revoked", is_flag=True, help="Also resolve revoked keys.")
@click.option(
    "--verify",
    is_flag=True,
    help="Also re-check keys that already have a token id; mismatches are reported, not changed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (only that).")
@with_appcontext
def backfill_tokens_command(
    dry_run: bool,
    user_email: str | None,
    batch_size: int,
    include_revoked: bool,
    verify: bool,
    as_json: bool,
) -> None:
    """Fill litellm_token_id for keys created before the column existed.

    Every key whose token id is NULL is looked up in LiteLLM's /key/list by its exact
    key_alias and owner (one global sweep or one sweep per user, whichever needs fewer
    pages) and stored with an UPDATE that only touches rows still NULL, committed in
    batches: safe while the portal serves and while another backfill runs, and a rerun
    continues where an interrupted run stopped.

    Per key it reports: resolved, not found in LiteLLM, ambiguous, conflict (the token is
    already on another row), owner mismatch (the alias belongs to another user_id), or
    skipped (revoked). Nothing is written for the problem cases.

    Exit status: 0 every pending key resolved (or nothing to do); 1 some keys remain
    unresolved (listed) or --verify found mismatches; 2 it could not run (LiteLLM
    unreachable or refusing the master key, database error, unknown --user).
    """
    app = current_app._get_current_object()
    client = build_backfill_client(app.config, app.instance_path)
    bar = _Bar() if stderr_is_tty() else None
    try:
        report = run_backfill(
            client,
            dry_run=dry_run,
            user_email=user_email,
            batch_size=batch_size,
            include_revoked=include_revoked,
            verify=verify,
            progress=bar,
        )
    except BackfillError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
        client.close()
    finish_report(report, as_json=as_json, print_text=_print_text)


def _print_text(report: BackfillReport) -> None:
    for r in report.results:
        line = f"{_LABELS[r.outcome]:<20} #{r.key_id} {r.alias!r} (owner {r.owner!r})"
        if r.kind == "verify":
            line = "verify: " + line
        if r.detail:
            line += f": {r.detail}"
        click.echo(line)
    counts = report.counts()
    parts = [f"{n} {_LABELS[Outcome(o)]}" for o, n in counts.items() if n]
    summary = ", ".join(parts) if parts else "nothing to do"
    written = "dry run, nothing written" if report.dry_run else f"{report.written} written"
    click.echo(
        f"backfill-tokens: {summary} ({written}; {report.litellm_calls} LiteLLM calls, "
        f"mode {report.mode})"
    )
