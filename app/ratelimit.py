"""Per-user rate limits kept in the database, so every instance counts the same hits.

Limits are written ``"<count>/<second|minute|hour|day>"``, e.g. ``"10/hour"``. A slot is taken
before the action (:func:`reserve`, atomic under parallel requests on SQLite and PostgreSQL) and
given back (:func:`release`) when the action then fails through no fault of the user's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from app.models import RateLimitHit, User, utcnow
from app.transactions import lock_user, write_transaction

log = logging.getLogger("app.ratelimit")

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, spec: str) -> Limit:
        count, _, period = spec.partition("/")
        return cls(int(count), PERIODS[period.strip().lower()])

    def describe(self) -> str:
        unit = {v: k for k, v in PERIODS.items()}[self.seconds]
        return f"{self.count} per {unit}"


def reserve(user: User, bucket: str, spec: str) -> int | None:
    """Take one of ``user``'s slots in ``bucket``: the slot's id, or None when the limit is used up.

    Counting and inserting happen in one short write transaction with the user's row locked, so
    parallel requests take turns and can never exceed the limit together. Hand the id to
    :func:`release` when the action fails for a reason that is not the user's.
    """
    limit = Limit.parse(spec)
    user_id = user.id
    with write_transaction() as session:
        lock_user(session, user_id)
        since = utcnow() - timedelta(seconds=limit.seconds)
        used = session.scalar(
            sa.select(sa.func.count())
            .select_from(RateLimitHit)
            .where(
                RateLimitHit.user_id == user_id,
                RateLimitHit.bucket == bucket,
                RateLimitHit.created_at >= since,
            )
        )
        if used >= limit.count:
            return None
        slot = RateLimitHit(user_id=user_id, bucket=bucket)
        session.add(slot)
        # Old hits are useless; prune this user's bucket while we are here.
        session.execute(
            sa.delete(RateLimitHit).where(
                RateLimitHit.user_id == user_id,
                RateLimitHit.bucket == bucket,
                RateLimitHit.created_at < since,
            )
        )
        session.flush()
        return slot.id


def release(slot_id: int) -> None:
    """Give back a slot taken by :func:`reserve` (the action failed through no fault of the
    user's). A database that fails now keeps the slot: logged, never raised over the real error."""
    try:
        with write_transaction() as session:
            session.execute(sa.delete(RateLimitHit).where(RateLimitHit.id == slot_id))
    except SQLAlchemyError as exc:
        log.warning("rate-limit slot %s not released: %s", slot_id, type(exc).__name__)


def hit(user: User, bucket: str, spec: str) -> bool:
    """Count one action for ``user``; False (and nothing counted) when over the limit."""
    return reserve(user, bucket, spec) is not None
