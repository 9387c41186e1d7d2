"""The portal's own data: users, their keys, and an audit trail.

A key's secret is never stored. ``ApiKey.litellm_token_id`` is LiteLLM's id for the key
(the sha256 hex of the secret); it is what LiteLLM's usage endpoints filter on.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


def utcnow() -> datetime:
    """Timezone-aware now in UTC (stored naive-UTC by SQLite, timestamptz by PostgreSQL)."""
    return datetime.now(UTC)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    # The user_id this person's keys carry in LiteLLM; the email when first seen.
    litellm_user_id: Mapped[str] = mapped_column(sa.String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # Sessions carry the value they began with; sign-out raises it, ending every one of them.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    keys: Mapped[list[ApiKey]] = relationship(back_populates="user", order_by="ApiKey.id")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


def key_expired(expires_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a key with this ``expires_at`` has expired (at ``now``)."""
    if expires_at is None:
        return False
    if expires_at.tzinfo is None:  # SQLite returns naive datetimes
        expires_at = expires_at.replace(tzinfo=UTC)
    return expires_at <= (now or utcnow())


def key_status(
    revoked_at: datetime | None, expires_at: datetime | None, now: datetime | None = None
) -> str:
    """``revoked``, ``expired`` or ``active``: :attr:`ApiKey.status` from its two columns (for
    reports that read thousands of keys as plain rows)."""
    if revoked_at is not None:
        return "revoked"
    return "expired" if key_expired(expires_at, now) else "active"


class ApiKey(db.Model):
    __tablename__ = "api_keys"
    __table_args__ = (sa.UniqueConstraint("user_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Exactly the key's key_alias in LiteLLM (unique across the whole proxy).
    alias: Mapped[str] = mapped_column(sa.String(255), unique=True)
    # What the owner typed and sees; unique per user only.
    label: Mapped[str] = mapped_column(sa.String(64))
    key_prefix: Mapped[str | None] = mapped_column(sa.String(32))
    litellm_token_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True, index=True)
    max_budget: Mapped[float | None] = mapped_column(sa.Float)
    # LiteLLM's budget window (``1d``, ``7d``, ``1mo``): spend resets when it ends.
    budget_duration: Mapped[str | None] = mapped_column(sa.String(16))
    models: Mapped[str | None] = mapped_column(sa.Text)  # comma-separated, as entered
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # When LiteLLM made the key (its ``created_at``): a key imported by backfill or adopted
    # lived in LiteLLM long before its portal row, and its lifetime starts here.
    litellm_created_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The create form's one-time token: a double submission finds the row it already made.
    idempotency_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True, index=True)
    # Sent in the key's LiteLLM metadata at creation: proves which portal request made a key.
    request_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # Written by `flask reconcile-keys`: since when LiteLLM no longer lists the key, and
    # LiteLLM's own view of it at the last check (the portal's copy, shown when LiteLLM is down).
    litellm_missing_since: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    litellm_spend: Mapped[float | None] = mapped_column(sa.Float)
    litellm_blocked: Mapped[bool | None] = mapped_column(sa.Boolean)
    litellm_checked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="keys")
    # Every token id this key has had (rotations), oldest first.
    tokens: Mapped[list[ApiKeyToken]] = relationship(
        back_populates="key", order_by="ApiKeyToken.became_current_at"
    )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def deleted_in_litellm(self) -> bool:
        """LiteLLM no longer has this key although the portal never revoked it."""
        return self.litellm_missing_since is not None and self.revoked_at is None

    @property
    def is_expired(self) -> bool:
        return key_expired(self.expires_at)

    @property
    def status(self) -> str:
        return key_status(self.revoked_at, self.expires_at)

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.alias}>"


TOKEN_SOURCES = {
    "created": "created in the portal",
    "backfill": "found in LiteLLM by alias",
    "rotated": "rotated in the portal",
    "external": "regenerated outside the portal",
    "migration": "recorded before rotations existed",
}


class ApiKeyToken(db.Model):
    """One token id a portal key has had: the key's lineage across rotations.

    A token id belongs to one portal key, ever, so usage filed under it is always that key's.
    ``retired_at`` is when another token took over; the retired secret still works until
    ``delete_after`` (the grace end), and ``deleted_at`` is when LiteLLM deleted it.
    """

    __tablename__ = "api_key_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), index=True)
    token_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    became_current_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    delete_after: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # One of TOKEN_SOURCES.
    source: Mapped[str] = mapped_column(sa.String(16))

    key: Mapped[ApiKey] = relationship(back_populates="tokens")

    @property
    def source_words(self) -> str:
        """How the token joined the lineage, in words for the key's page."""
        return TOKEN_SOURCES.get(self.source, self.source)

    def __repr__(self) -> str:
        return f"<ApiKeyToken {self.id} key={self.api_key_id} {self.source}>"


class AuditEvent(db.Model):
    """Who did what to which key or user, and when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    target_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    target_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id"))
    detail: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, index=True
    )

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_user_id])
    target_user: Mapped[User | None] = relationship(foreign_keys=[target_user_id])
    target_key: Mapped[ApiKey | None] = relationship()


class RateLimitHit(db.Model):
    """One counted action, for per-user rate limits shared by every instance."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (sa.Index("ix_rate_limit_hits_lookup", "user_id", "bucket", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    bucket: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class ReadinessProbe(db.Model):
    """One row that /readyz rewrites: proof that the database still commits writes.

    A read-only file or volume passes every read, and in WAL mode a write that is rolled back
    never reaches the file, so only a committed write tells.
    """

    __tablename__ = "readiness_probe"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    checked_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
