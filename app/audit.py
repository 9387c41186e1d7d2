"""The audit trail: who did what to which key or user, and when."""

from __future__ import annotations

import json

from app.extensions import db
from app.models import ApiKey, AuditEvent, User
from app.transactions import write_transaction


def record(
    action: str,
    *,
    actor: User | None,
    target_user: User | None = None,
    target_key: ApiKey | None = None,
    detail: dict | str | None = None,
    commit: bool = True,
) -> AuditEvent:
    """Add one audit event (``key.create``, ``key.revoke``, ``admin.key.revoke``, …).

    ``detail`` must never hold a secret; dicts are stored as JSON. With ``commit`` the event is
    written in a short write transaction of its own, else it joins the caller's.
    """
    if isinstance(detail, dict):
        detail = json.dumps(detail, sort_keys=True, default=str)
    event = AuditEvent(
        action=action,
        actor_user_id=actor.id if actor is not None else None,
        target_user_id=target_user.id if target_user is not None else None,
        target_key_id=target_key.id if target_key is not None else None,
        detail=detail,
    )
    if not commit:  # part of the caller's transaction
        db.session.add(event)
        return event
    with write_transaction() as session:
        session.add(event)
    return event
