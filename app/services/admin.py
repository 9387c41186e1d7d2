"""Admin views across users: usage of everyone, any user's keys, the audit trail.

"All users" usage is ONE daily-activity query without ``user_id`` (the master key sees every
user), of which only entries for token ids the portal knows are counted and attributed to
their owner through ``api_keys``. Per-user calls would cost one request per user on every page
view; the single query costs the same whatever the number of users. When LiteLLM cuts its
per-key lists (``api_key_limit``, an organisation with more keys than that), the client reads
the rows endpoint instead, in windows of days, never one call per key; the day cache keeps
every day it fetched. Keys whose token id is not stored yet are listed as not counted
(``flask backfill-tokens``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, AuditEvent, User
from app.services.lineage import key_by_token as lineage_tokens
from app.services.litellm import Metrics
from app.services.usage import UsageReport, accumulate_tokens, with_rotation_markers

AUDIT_PAGE_SIZE = 50
_ZERO = Metrics()


@dataclass(frozen=True)
class UserRow:
    """One user in the admin users table: keys and spend (all metrics) in the range."""

    id: int
    email: str
    is_admin: bool
    keys: int
    active_keys: int
    uncounted_keys: int  # no token id stored: usage cannot be attributed yet
    metrics: Metrics


@dataclass(frozen=True)
class KeyRow:
    """One key in the admin keys table: its owner and its usage in the range."""

    id: int
    label: str
    alias: str
    user_id: int
    email: str
    status: str
    token_known: bool
    metrics: Metrics


@dataclass(frozen=True)
class AllUsersReport:
    """Usage of every portal key in the range, plus the per-user and per-key tables' rows."""

    report: UsageReport
    users: tuple[UserRow, ...]
    keys: tuple[KeyRow, ...] = ()

    @property
    def uncounted_keys(self) -> int:
        return sum(u.uncounted_keys for u in self.users)


def all_users() -> list[User]:
    """Every user, by email (for the filter list and the users table)."""
    return list(db.session.scalars(sa.select(User).order_by(User.email)))


def get_user(user_id: int) -> User | None:
    """The user with this id, or None."""
    return db.session.get(User, user_id)


def get_key(key_id: int) -> ApiKey | None:
    """Any user's key with this id (admins only), or None."""
    return db.session.get(ApiKey, key_id)


def usage_for_all_users(
    start: dt.date, end: dt.date, *, refresh: bool = False, client=None
) -> AllUsersReport:
    """Usage of every user's keys over ``start..end`` (see the module docstring for the calls).

    Raises ``LiteLLMError`` when LiteLLM cannot answer.
    """
    if client is None:
        from app.services import litellm_client

        client = litellm_client()
    users = all_users()
    keys = list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)))
    key_by_token = lineage_tokens(keys)  # every token of every key, rotated ones included
    acc = accumulate_tokens(client, start, end, key_by_token, refresh=refresh)
    email_of = {u.id: u.email for u in users}
    keys_of: dict[int, list[KeyRow]] = {}
    key_rows = []
    for key in keys:
        row = KeyRow(
            id=key.id,
            label=key.label,
            alias=key.alias,
            user_id=key.user_id,
            email=email_of.get(key.user_id, ""),
            status=key.status,
            token_known=bool(key.litellm_token_id),
            metrics=acc.per_key.get(key.id, _ZERO),
        )
        key_rows.append(row)
        keys_of.setdefault(key.user_id, []).append(row)
    rows = []
    for user in users:
        mine = keys_of.get(user.id, [])
        rows.append(
            UserRow(
                id=user.id,
                email=user.email,
                is_admin=user.is_admin,
                keys=len(mine),
                active_keys=sum(1 for k in mine if k.status == "active"),
                uncounted_keys=sum(1 for k in mine if not k.token_known),
                metrics=Metrics.sum(k.metrics for k in mine),
            )
        )
    rows.sort(key=lambda r: (-r.metrics.spend, r.email))
    report = with_rotation_markers(acc.report(key=None, keys=()), keys)
    return AllUsersReport(report=report, users=tuple(rows), keys=tuple(key_rows))


# --- audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    page: int
    pages: int
    total: int
    actions: tuple[str, ...]  # every action recorded so far, for the filter


def audit_events(
    *, action: str | None = None, user: User | None = None, page: int = 1
) -> AuditPage:
    """Audit events newest first, optionally one action and/or one user (actor or target)."""
    statement = sa.select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action:
        statement = statement.where(AuditEvent.action == action)
    if user is not None:
        statement = statement.where(
            sa.or_(AuditEvent.actor_user_id == user.id, AuditEvent.target_user_id == user.id)
        )
    result = db.paginate(statement, page=page, per_page=AUDIT_PAGE_SIZE, error_out=False)
    return AuditPage(
        events=tuple(result.items),
        page=result.page,
        pages=max(result.pages, 1),
        total=result.total or 0,
        actions=audit_actions(),
    )


def audit_actions() -> tuple[str, ...]:
    """Every action recorded so far, for the filter list."""
    return tuple(
        db.session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def find_user_by_email(email: str) -> User | None:
    """The user with exactly this email (lower-cased), or None."""
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
