"""Two backfills at once end in the same state as one (SQLite file DB, or PostgreSQL when
TEST_DATABASE_URL is set), each thread with its own app context and session."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from backfill_seed import seed

from app.extensions import db
from app.models import ApiKey
from app.services.backfill import build_backfill_client, run_backfill


@pytest.fixture
def shared_app(build_app, database_url, sim, tmp_path):
    """A portal whose database several connections really share (not in-memory SQLite)."""
    url = (
        database_url
        if database_url.startswith("postgresql")
        else (f"sqlite:///{tmp_path / 'portal.sqlite'}")
    )
    return build_app(schema=True, SQLALCHEMY_DATABASE_URI=url)


def _backfill(app, results, index, barrier):
    with app.app_context():
        client = build_backfill_client(app.config, app.instance_path)
        try:
            barrier.wait(timeout=10)
            results[index] = run_backfill(client, batch_size=25)
        finally:
            client.close()
            db.session.remove()


def _stored(app):
    with app.app_context():
        rows = dict(db.session.execute(sa.select(ApiKey.id, ApiKey.litellm_token_id)).all())
        db.session.remove()
    return rows


def test_two_concurrent_runs_end_like_one(shared_app, sim):
    expected = seed(shared_app, sim, users=4, keys_per_user=60)
    results: list = [None, None]
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=_backfill, args=(shared_app, results, i, barrier)) for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    first, second = results
    assert first is not None and second is not None
    assert first.error is None and second.error is None, (first.error, second.error)
    assert first.exit_status == second.exit_status == 0
    assert _stored(shared_app) == expected
    # Every row was written exactly once; the other run saw it already there.
    assert first.written + second.written == len(expected)
    for report in (first, second):
        assert {r.outcome.value for r in report.results} == {"resolved"}


@pytest.mark.parametrize("portal_value", ["same", "other"])
def test_a_portal_write_during_the_run_is_never_overwritten(shared_app, sim, portal_value):
    expected = seed(shared_app, sim, users=2, keys_per_user=3)
    raced = min(expected)
    value = expected[raced] if portal_value == "same" else "e" * 64

    def portal_writes_meanwhile(done: int, total: int) -> None:
        # Rows are loaded, LiteLLM is being swept, nothing written yet: the portal stores
        # the id for one row through its own connection.
        if done == 1:
            with db.engine.begin() as conn:
                conn.execute(
                    sa.update(ApiKey).where(ApiKey.id == raced).values(litellm_token_id=value)
                )

    with shared_app.app_context():
        client = build_backfill_client(shared_app.config, shared_app.instance_path)
        report = run_backfill(client, progress=portal_writes_meanwhile)
        client.close()
        db.session.remove()
    outcome = {r.key_id: r for r in report.results}[raced]
    assert report.written == len(expected) - 1
    assert _stored(shared_app) == {**expected, raced: value}
    if portal_value == "same":
        assert outcome.outcome.value == "resolved" and not outcome.written
        assert report.exit_status == 0
    else:
        assert outcome.outcome.value == "conflict"
        assert report.exit_status == 1
