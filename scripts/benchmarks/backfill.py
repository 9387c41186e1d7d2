"""``flask backfill-tokens`` at one size, in its own process (so its peak RSS is its own).

    python -m scripts.benchmarks.backfill --users 500 --keys 10000 --baseline-sample 250 out.json

Reuses :mod:`scripts.benchmarks.backfill_service` (its seeding, its one-lookup-per-key
baseline and its ``measure``) instead of copying it. The only difference: the baseline, which
makes one ``/key/list?key_alias=…`` call per key, runs on a random sample of the pending keys
(all the other rows get their token first, so the baseline's own ``WHERE litellm_token_id IS NULL``
picks exactly the sample) and its wall time is scaled to all keys. Its call count per key is
exactly 1 by construction (checked on the sample). Without sampling, 10,000 keys take more
than 14 minutes on a 2-core machine — beyond this benchmark's budget.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

from scripts.benchmarks import backfill_service as bb


def _leave_pending(app, sample_ids: set[int], tokens: dict[str, str]) -> None:
    """Give every key except ``sample_ids`` its token, so only the sample is pending."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import ApiKey

    with app.app_context():
        rows = db.session.execute(sa.select(ApiKey.id, ApiKey.alias)).all()
        for key_id, alias in rows:
            if key_id not in sample_ids:
                statement = sa.update(ApiKey).where(ApiKey.id == key_id)
                db.session.execute(statement.values(litellm_token_id=tokens[alias]))
        db.session.commit()


def run(users: int, keys: int, sample: int) -> dict:
    """Seed, run the backfill service (timed, then traced), then the sampled baseline."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import ApiKey
    from app.services.backfill import build_backfill_client

    app, state, server = bb.start_portal_and_sim()
    try:
        t0 = time.perf_counter()
        bb.seed(app, state, users, keys)
        seed_s = round(time.perf_counter() - t0, 1)

        def run_service() -> dict:
            return bb.run_service_backfill(app)

        service = bb.measure("backfill", app, state, run_service)
        rss_after_service = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

        with state.lock:
            tokens = {row["key_alias"]: token for token, row in state.keys.items()}
        with app.app_context():
            all_ids = sorted(db.session.scalars(sa.select(ApiKey.id)))
        n = min(sample, keys)
        sample_ids = set(random.Random(7).sample(all_ids, n))

        def run_baseline() -> dict:
            _leave_pending(app, sample_ids, tokens)
            with app.app_context():
                client = build_backfill_client(app.config, app.instance_path)
                try:
                    t = time.perf_counter()
                    out = bb.baseline(app, client)
                    out["sample_seconds"] = round(time.perf_counter() - t, 3)
                    return out
                finally:
                    client.close()

        base = bb.measure("baseline_one_call_per_key", app, state, run_baseline, trace=False)
        assert base["written"] == n, base
        base["sample_keys"] = n
        base["calls_per_key"] = round(base["litellm_calls"] / n, 3)
        base["extrapolated_calls"] = round(base["calls_per_key"] * keys)
        base["extrapolated_wall_seconds"] = round(base["sample_seconds"] * keys / n, 1)
    finally:
        server.shutdown()
    return {
        "keys": keys,
        "users": users,
        "page_bound": -(-keys // 100) + users,
        "seed_seconds": seed_s,
        "backfill": {**service, "peak_rss_mib": rss_after_service},
        "baseline": base,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--keys", type=int, required=True)
    parser.add_argument("--baseline-sample", type=int, default=250)
    args = parser.parse_args(argv)
    figures = run(args.users, args.keys, args.baseline_sample)
    Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
