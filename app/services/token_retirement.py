"""Deleting retired secrets in LiteLLM when their grace period ends, without a person.

A rotation keeps the old secret working until ``api_key_tokens.delete_after``. Whoever comes
next deletes it: the next request that touches the key (keys list, its usage view, revoke) and
``flask retire-tokens`` from cron. Each old token is deleted once even when several of them run
at the same moment: a run first *claims* the row (``deleted_at`` set by a conditional UPDATE in a
short transaction of its own) and only the run that claimed it calls LiteLLM; when LiteLLM
fails the claim is given back, so the next run tries again.

An old secret may have been given a share of the key's budget for its grace (see
:func:`app.services.rotation.grace_share`), reserved by raising the new secret's spend. When
its grace ends, what it did not spend of that share is given back to the key's current secret.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from app import audit
from app.extensions import db
from app.models import ApiKey, ApiKeyToken, utcnow
from app.services import litellm_client
from app.services.litellm import LiteLLMError
from app.services.rotation_carry import GRACE_SHARE_FIELD
from app.transactions import write_transaction

log = logging.getLogger("app.tokens")


@dataclass
class RetireReport:
    """What one run did: token rows deleted in LiteLLM (or found gone), and failures."""

    deleted: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    given_back: list[int] = field(default_factory=list)  # rows whose unspent share went back


def due_rows(
    key_ids: Iterable[int] | None = None, *, now: dt.datetime | None = None, all_retired=False
) -> list[ApiKeyToken]:
    """Retired tokens not deleted yet whose grace has ended (``all_retired``: ended or not)."""
    statement = sa.select(ApiKeyToken).where(
        ApiKeyToken.deleted_at.is_(None), ApiKeyToken.delete_after.is_not(None)
    )
    if not all_retired:
        statement = statement.where(ApiKeyToken.delete_after <= (now or utcnow()))
    if key_ids is not None:
        statement = statement.where(ApiKeyToken.api_key_id.in_(list(key_ids)))
    return list(db.session.scalars(statement.order_by(ApiKeyToken.id)))


def retire_due(
    key_ids: Iterable[int] | None = None,
    *,
    now: dt.datetime | None = None,
    all_retired=False,
    give_back: bool | None = None,
) -> RetireReport:
    """Delete in LiteLLM every retired token of ``key_ids`` (all keys: None) whose grace ended.

    ``give_back`` (default: unless ``all_retired``, i.e. a revoke) returns an old secret's
    unspent grace share to the key's current secret first. Costs one query when nothing is
    due. Never raises for LiteLLM: failures are reported (and logged) and the rows stay due
    for the next run.
    """
    report = RetireReport()
    if give_back is None:
        give_back = not all_retired
    for row in due_rows(key_ids, now=now, all_retired=all_retired):
        row_id, token, key_id = row.id, row.token_id, row.api_key_id
        if not _claim(row_id):
            continue  # another run has it
        if give_back and _give_back_unused_share(key_id, token):
            report.given_back.append(row_id)
        try:
            deleted = litellm_client().delete_key(token)
        except LiteLLMError as exc:
            _unclaim(row_id)
            log.warning("old token of key %s not deleted yet: %s", key_id, exc.message)
            report.failed.append((row_id, exc.message))
            continue
        key = db.session.get(ApiKey, key_id)
        audit.record(
            "key.token.delete",
            actor=None,
            target_user=key.user if key else None,
            target_key=key,
            detail={
                "token_id": token[:8],
                "litellm": "deleted" if deleted else "already gone",
                "grace_end": row.delete_after,
            },
        )
        log.info("old token %s… of key %s deleted in LiteLLM", token[:8], key_id)
        report.deleted.append(row_id)
    return report


def _give_back_unused_share(key_id: int, token: str) -> bool:
    """Lower the current secret's spend by what the old secret ``token`` left of its grace
    share; True when something was given back. Only while the current secret is the one
    rotated from ``token`` (a later rotation carried the reservation on, spent or not)."""
    client = litellm_client()
    key = db.session.get(ApiKey, key_id)
    current = key.litellm_token_id if key is not None and key.revoked_at is None else None
    if not current or current == token:
        return False
    try:
        old = client.key_info(token, force_refresh=True)
        share = old.metadata.get(GRACE_SHARE_FIELD)
        if not isinstance(share, int | float) or share <= 0 or old.max_budget is None:
            return False
        unused = min(float(share), max(0.0, old.max_budget - old.spend))
        new = client.key_info(current, force_refresh=True)
        if unused <= 0 or new.metadata.get("rotated_from") != token[:12]:
            return False
        client.update_key(current, spend=max(0.0, new.spend - unused))
    except LiteLLMError as exc:
        log.warning("unspent grace share of key %s not given back: %s", key_id, exc.message)
        return False
    log.info("key %s: $%.4f of an old secret's grace share given back", key_id, unused)
    return True


def _claim(row_id: int) -> bool:
    with write_transaction() as session:
        claimed = session.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.id == row_id, ApiKeyToken.deleted_at.is_(None))
            .values(deleted_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return claimed.rowcount == 1


def _unclaim(row_id: int) -> None:
    with write_transaction() as session:
        session.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.id == row_id)
            .values(deleted_at=None)
            .execution_options(synchronize_session=False)
        )
