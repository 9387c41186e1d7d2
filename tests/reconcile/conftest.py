"""Fixtures for the reconcile-keys tests: run the command, read rows, count /key/list calls."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey


@pytest.fixture
def reconcile(runner):
    """``reconcile("--dry-run", …)`` → (exit code, the --json report as a dict)."""

    def run(*args: str) -> tuple[int, dict]:
        result = runner.invoke(args=["reconcile-keys", "--json", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, json.loads(result.stdout)

    return run


@pytest.fixture
def outcomes():
    """``outcomes(report)`` → {alias: outcome} of a --json report."""
    return lambda report: {r["alias"]: r["outcome"] for r in report["results"]}


@pytest.fixture
def row(app):
    """``row(key_id)`` → the api_keys row as the database has it now (detached)."""

    def load(key_id: int) -> ApiKey:
        with app.app_context():
            found = db.session.get(ApiKey, key_id)
            db.session.expunge(found)
            return found

    return load


@pytest.fixture
def key_list_calls(sim):
    """``key_list_calls()`` → the query strings of every GET /key/list the simulator served."""
    return lambda: [q for m, p, q in sim.calls if p == "/key/list" and m == "GET"]


@pytest.fixture
def audit_actions(app):
    """``audit_actions()`` → [(action, detail)] of every audit event, oldest first."""
    from app.models import AuditEvent

    def load() -> list[tuple[str, str | None]]:
        with app.app_context():
            rows = db.session.execute(
                sa.select(AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)
            ).all()
            db.session.rollback()
        return [tuple(r) for r in rows]

    return load
