"""Benchmark ``flask backfill-tokens``'s service against the in-thread LiteLLM simulator.

    .venv/bin/python -m scripts.benchmarks.backfill_service /tmp/bench_backfill.json \
        [--users 500 --keys 10000]

Seeds N pending keys over U users (in the simulator and in a throwaway SQLite file database),
then measures two ways to fill ``litellm_token_id``:

* ``backfill``: :func:`app.services.backfill.run_backfill` (sweeps of ``/key/list``);
* ``baseline``: one ``GET /key/list?key_alias=…`` per key, written in the same batches.

For each: LiteLLM calls (as the simulator counted them), wall time, peak Python memory
(tracemalloc, in a second run so tracing does not slow the timed one) and the process's peak
RSS (``ru_maxrss``; the simulator runs in this process, so it is included). The figures, with
the machine (``nproc``, CPU model), are written as JSON to the given path and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.config import TestingConfig
from app.extensions import db
from app.litellm_sim import create_sim_app, run_in_thread
from app.models import ApiKey, User
from app.services.backfill import build_backfill_client, run_backfill
from app.services.tokens import store_token_if_missing

MASTER_KEY = "sk-bench-master-0123456789"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def seed(app, state, users: int, keys: int) -> None:
    """``keys`` pending keys spread evenly over ``users`` users (in LiteLLM and the portal)."""
    per_user, extra = divmod(keys, users)
    with app.app_context():
        for u in range(users):
            email = f"user{u:04d}@example.com"
            user = User(email=email, litellm_user_id=email)
            db.session.add(user)
            db.session.flush()
            for k in range(per_user + (1 if u < extra else 0)):
                alias = f"{email}--key{k}"
                state.add_key(key_alias=alias, user_id=email)
                db.session.add(ApiKey(user_id=user.id, alias=alias, label=f"key{k}"))
        db.session.commit()


def reset_tokens(app) -> None:
    with app.app_context():
        db.session.execute(sa.update(ApiKey).values(litellm_token_id=None))
        db.session.commit()


def baseline(app, client, batch_size: int = 500) -> dict:
    """One /key/list?key_alias=… call per key, same guarded write, same batches."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(ApiKey.id, ApiKey.alias, User.litellm_user_id)
            .join(User)
            .where(ApiKey.litellm_token_id.is_(None))
        ).all()
        written = pending = 0
        for key_id, alias, owner in rows:
            matches = [
                r for p in client.iter_key_pages(None, key_alias=alias) for r in p.keys
                if r.user_id == owner
            ]  # fmt: skip
            if len(matches) == 1:
                written += store_token_if_missing(key_id, matches[0].token, commit=False)
                pending += 1
                if pending >= batch_size:
                    db.session.commit()
                    pending = 0
        db.session.commit()
    return {"written": written}


def run_service_backfill(app) -> dict:
    """One run of the service behind ``flask backfill-tokens``; every key must resolve."""
    with app.app_context():
        client = build_backfill_client(app.config, app.instance_path)
        try:
            report = run_backfill(client)
        finally:
            client.close()
    assert report.exit_status == 0, report.error or report.counts()
    return {"written": report.written, "mode": report.mode, "pages": report.pages}


def measure(name: str, app, state, func, *, trace: bool = True) -> dict:
    """Run ``func`` on a fresh token state, timed; then again under tracemalloc if ``trace``."""
    figures: dict = {"name": name}
    reset_tokens(app)
    state.reset_calls()
    started = time.perf_counter()
    outcome = func()
    figures["wall_seconds"] = round(time.perf_counter() - started, 3)
    figures["litellm_calls"] = state.count("/key/list", "GET")
    figures.update(outcome)
    print(f"{name}: {figures}", file=sys.stderr, flush=True)
    if trace:
        reset_tokens(app)
        tracemalloc.start()
        func()
        figures["peak_python_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    figures["max_rss_mib_so_far"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    return figures


def start_portal_and_sim():
    """The simulator in a thread and a portal app on a fresh SQLite file with its tables:
    ``(app, simulator state, simulator server)``."""
    import logging

    sim_app = create_sim_app(master_key=MASTER_KEY, seed=None)
    state = sim_app.extensions["litellm_sim"]
    server = run_in_thread(sim_app, host="127.0.0.1", port=0)
    workdir = tempfile.mkdtemp(prefix="bench-backfill-")
    config = TestingConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{workdir}/portal.sqlite"
    config.LITELLM_BASE_URL = server.base_url
    config.LITELLM_MASTER_KEY = MASTER_KEY
    app = create_app(config)
    app.instance_path = os.path.join(workdir, "instance")
    logging.getLogger("app.litellm").setLevel(logging.WARNING)  # one line per call otherwise
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with app.app_context():
        db.create_all()
    return app, state, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="where to write the figures (JSON)")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--trace-baseline",
        action="store_true",
        help="also run the (slow) baseline under tracemalloc",
    )
    args = parser.parse_args(argv)

    app, state, server = start_portal_and_sim()
    try:
        t0 = time.perf_counter()
        seed(app, state, args.users, args.keys)
        seed_seconds = round(time.perf_counter() - t0, 1)
        print(f"seeded {args.keys} keys in {seed_seconds} s", file=sys.stderr, flush=True)

        def run_service() -> dict:
            return run_service_backfill(app)

        def run_baseline() -> dict:
            with app.app_context():
                client = build_backfill_client(app.config, app.instance_path)
                try:
                    return baseline(app, client)
                finally:
                    client.close()

        results = [measure("backfill", app, state, run_service)]
        if not args.skip_baseline:
            results.append(
                measure(
                    "baseline_one_call_per_key",
                    app,
                    state,
                    run_baseline,
                    trace=args.trace_baseline,
                )
            )
    finally:
        server.shutdown()

    figures = {
        "keys": args.keys,
        "users": args.users,
        "page_bound": -(-args.keys // 100) + args.users,
        "seed_seconds": seed_seconds,
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "database": "SQLite file",
        "runs": results,
    }
    text = json.dumps(figures, indent=2)
    Path(args.output).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
