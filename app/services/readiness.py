"""The database half of /readyz: can the portal read, and can it commit a write?"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.db_errors import is_read_only
from app.extensions import db
from app.models import ReadinessProbe, utcnow
from app.transactions import write_transaction

PROBE_ROW = 1


def check_database() -> str:
    """``"ok"``, or ``"failed: …"`` naming the step (reading, or writing) and the error class.

    The write is real and committed: one row's timestamp, upserted.
    """
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        return f"failed: {type(exc).__name__}"
    try:
        with write_transaction() as session:
            session.execute(_touch_probe(session.get_bind().dialect.name))
    except Exception as exc:  # noqa: BLE001
        reason = "read-only" if is_read_only(exc) else "cannot write"
        return f"failed: {reason} ({type(exc).__name__})"
    return "ok"


def _touch_probe(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    return (
        insert(ReadinessProbe)
        .values(id=PROBE_ROW, checked_at=now)
        .on_conflict_do_update(index_elements=[ReadinessProbe.id], set_={"checked_at": now})
    )
