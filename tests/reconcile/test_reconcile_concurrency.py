"""Two reconcile-keys runs at once end like one (SQLite file database, or PostgreSQL when
TEST_DATABASE_URL is set), each thread with its own app context and session."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app import audit
from app.extensions import db
from app.models import ApiKey, AuditEvent, User
from app.services.create_timeout import TIMEOUT_ACTION
from app.services.keys import PORTAL_TAG, alias_for
from app.services.reconcile import build_reconcile_client, run_reconcile


@pytest.fixture
def shared_app(build_app, database_url, sim, tmp_path):
    """A portal whose database several connections really share (not in-memory SQLite)."""
    url = (
        database_url
        if database_url.startswith("postgresql")
        else f"sqlite:///{tmp_path / 'portal.sqlite'}"
    )
    return build_app(schema=True, SQLALCHEMY_DATABASE_URI=url)


def _seed(app, sim) -> dict[str, list]:
    """Alice with 40 keys: 10 deleted in LiteLLM, 10 with a new budget, and one orphan made by
    a timed-out portal request (adoptable)."""
    made: dict[str, list] = {"gone": [], "drift": [], "same": []}
    with app.app_context():
        alice = User(email="alice@example.com", litellm_user_id="alice@example.com")
        db.session.add(alice)
        db.session.flush()
        for i in range(40):
            alias = alias_for(alice, f"k{i}")
            token = sim.add_key(key_alias=alias, user_id=alice.litellm_user_id)["token"]
            key = ApiKey(user_id=alice.id, alias=alias, label=f"k{i}", litellm_token_id=token)
            db.session.add(key)
            db.session.flush()
            kind = "gone" if i < 10 else "drift" if i < 20 else "same"
            made[kind].append(key.id)
            if kind == "gone":
                sim.archive_key(token)
            elif kind == "drift":
                sim.keys[token]["max_budget"] = 7.0
        db.session.commit()
        orphan_alias = alias_for(alice, "timed-out")
        audit.record(
            TIMEOUT_ACTION,
            actor=None,
            target_user=alice,
            detail={"alias": orphan_alias, "label": "timed-out", "request_id": "a" * 32},
        )
        sim.add_key(
            key_alias=orphan_alias,
            user_id="alice@example.com",
            metadata={"created_by": PORTAL_TAG, "portal_request_id": "a" * 32},
        )
        db.session.remove()
    return made


def _run(app, results, index, barrier):
    with app.app_context():
        client = build_reconcile_client(app.config, app.instance_path)
        try:
            barrier.wait(timeout=10)
            results[index] = run_reconcile(client)
        finally:
            client.close()
            db.session.remove()


def test_two_concurrent_runs_end_like_one(shared_app, sim):
    made = _seed(shared_app, sim)
    results: list = [None, None]
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=_run, args=(shared_app, results, i, barrier)) for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    first, second = results
    assert first is not None and second is not None
    assert first.error is None and second.error is None, (first.error, second.error)
    assert first.exit_status == second.exit_status == 0
    # Each mark and each adoption was written by exactly one of the two runs.
    for outcome in ("missing", "adopted"):
        written = [r for rep in results for r in rep.results if r.outcome == outcome and r.written]
        assert len(written) == (10 if outcome == "missing" else 1), outcome
    with shared_app.app_context():
        keys = {k.id: k for k in db.session.scalars(sa.select(ApiKey))}
        adopted = [k for k in keys.values() if k.label == "timed-out"]
        adopt_events = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "key.adopt")
        )
        db.session.remove()
    assert len(adopted) == 1 and adopt_events == 1
    assert all(keys[i].litellm_missing_since is not None for i in made["gone"])
    assert all(keys[i].max_budget == 7.0 for i in made["drift"])
    assert all(keys[i].litellm_missing_since is None for i in made["drift"] + made["same"])
    assert all(keys[i].max_budget is None for i in made["same"])
