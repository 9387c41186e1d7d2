"""``flask litellm-sim`` / ``python -m app.litellm_sim``: run the simulator in the foreground."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
from werkzeug.serving import run_simple

from . import persist
from .app import DEFAULT_MASTER_KEY, create_sim_app
from .versions import DEFAULT_VERSION


def _parse_fault(value: str) -> tuple[str, int]:
    route, sep, status = value.partition("=")
    if not sep or not route.startswith("/") or not status.isdigit():
        raise click.BadParameter(f"expected ROUTE=STATUS (e.g. /key/list=500), got {value!r}")
    return route, int(status)


@click.command("litellm-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=4000, show_default=True, type=int, help="TCP port.")
@click.option(
    "--seed",
    type=click.Choice(["demo", "none"]),
    default="demo",
    show_default=True,
    help="Initial data: three demo users with keys and 90 days of usage, or nothing.",
)
@click.option(
    "--master-key",
    default=lambda: os.environ.get("LITELLM_MASTER_KEY") or DEFAULT_MASTER_KEY,
    show_default="$LITELLM_MASTER_KEY or " + DEFAULT_MASTER_KEY,
    help="Bearer key the simulator accepts (admin view).",
)
@click.option("--latency-ms", default=0, show_default=True, type=int, help="Delay per request.")
@click.option(
    "--batch-write-delay",
    default=0.0,
    show_default=True,
    type=float,
    help="Seconds before recorded usage and spend show (a real proxy: 10-20).",
)
@click.option(
    "--litellm-version",
    default=DEFAULT_VERSION,
    show_default=True,
    help="LiteLLM release to imitate where releases differ (e.g. 1.75.0, 1.108.7).",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep keys and usage in this JSON file across restarts: read at start when it exists "
    "(instead of --seed), rewritten after every change.",
)
@click.option("--quiet", is_flag=True, help="No line per request (errors are still printed).")
@click.option("--enterprise", is_flag=True, help="Allow /key/regenerate like a licensed proxy.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="ROUTE=STATUS",
    help="Answer STATUS for paths starting with ROUTE (repeatable), e.g. /key/list=500.",
)
def litellm_sim_command(
    host: str,
    port: int,
    seed: str,
    master_key: str,
    latency_ms: int,
    batch_write_delay: float,
    litellm_version: str,
    state_file: Path | None,
    quiet: bool,
    enterprise: bool,
    faults: tuple[str, ...],
) -> None:
    """Run the LiteLLM simulator (LiteLLM's key + daily-activity API) for local work.

    Serves /key/generate, /key/list, /key/info, /key/update, /key/delete,
    /user/daily/activity[/aggregated] and /health/liveliness, plus /_sim/* control routes.
    """
    parsed = [_parse_fault(f) for f in faults]
    restored = state_file is not None and state_file.exists()
    app = create_sim_app(
        master_key=master_key,
        seed=None if seed == "none" or restored else seed,
        latency_ms=latency_ms,
        batch_write_delay=batch_write_delay,
        version=litellm_version,
    )
    state = app.extensions["litellm_sim"]
    if state_file is not None:
        if restored:
            persist.load(state, state_file)
            seed = f"kept in {state_file}"
        else:
            persist.save(state, state_file)
        persist.save_after_changes(app, state_file)
    state.set_enterprise(enterprise)
    for route, status in parsed:
        state.set_fault(route, status)
    click.echo(
        f"LiteLLM simulator on http://{host}:{port} (seed={seed}, keys={len(state.keys)}, "
        f"usage rows={len(state.rows)})"
    )
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
