"""Per-user rate limits kept in the database, so every instance counts the same hits.

Limits are written ``"<count>/<second|minute|hour|day>"``, e.g. ``"10/hour"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import RateLimitHit, User, utcnow

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


def hit(user: User, bucket: str, spec: str) -> bool:
    """Count one action for ``user``; False (and nothing counted) when over the limit."""
    limit = Limit.parse(spec)
    since = utcnow() - timedelta(seconds=limit.seconds)
    used = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RateLimitHit)
        .where(
            RateLimitHit.user_id == user.id,
            RateLimitHit.bucket == bucket,
            RateLimitHit.created_at >= since,
        )
    )
    if used >= limit.count:
        return False
    db.session.add(RateLimitHit(user_id=user.id, bucket=bucket))
    # Old hits are useless; prune this user's bucket while we are here.
    db.session.execute(
        sa.delete(RateLimitHit).where(
            RateLimitHit.user_id == user.id,
            RateLimitHit.bucket == bucket,
            RateLimitHit.created_at < since,
        )
    )
    db.session.commit()
    return True
