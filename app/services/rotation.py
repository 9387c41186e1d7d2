"""Rotating a key's secret, on any LiteLLM (open source included, without /key/regenerate).

A rotation makes a NEW LiteLLM key for the same portal key and keeps the old one working for
a grace period the owner picks; ``app.services.token_retirement`` deletes it when that ends.
LiteLLM requires unique aliases and the live key must stay findable by the portal's alias, so:

1. the current token is *claimed* in ``api_key_tokens`` (a double submission or a second
   tab finds it claimed and gets :class:`AlreadyRotated`; one new key, never two);
2. the old key is renamed to ``<alias>@retired-<first 12 of its token id>`` (``/key/update``);
3. a new key is generated under the portal's alias with the old key's owner, models, budget
   and remaining lifetime, and the old key's spend is carried over so the budget still holds;
4. one write transaction retires the old token (``delete_after`` = now + grace), adds the new
   one to the lineage, makes it current and writes the audit event.

When a LiteLLM step fails, everything before it is undone: the new key (or whatever LiteLLM
made under the alias before a timeout) is deleted, the old key gets its alias back and the
claim is released, so the old secret keeps working and no orphan is left.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from app import audit
from app.models import ApiKey, ApiKeyToken, User, utcnow
from app.services import litellm_client
from app.services.keys import (
    PORTAL_TAG,
    UNREACHABLE,
    KeyServiceError,
    LiteLLMFailed,
    StorageFailed,
    _delete_orphan,
)
from app.services.lineage import CLAIM_TIMEOUT, TokenTaken, add_token, as_utc, current_row
from app.services.litellm import (
    GeneratedKey,
    KeyRecord,
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMUnavailable,
)
from app.services.token_retirement import retire_due
from app.services.tokens import UnknownAlias, resolve_token
from app.transactions import write_transaction

log = logging.getLogger("app.keys")

GRACE_PERIODS = {
    "none": dt.timedelta(0),
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
}
RETIRED_MARK = "@retired-"  # "@" never occurs in a portal label, so never in a portal alias
ALIAS_MAX = 255  # LiteLLM's limit on key_alias


class RotationRefused(KeyServiceError):
    """The key cannot be rotated (revoked, expired, unknown to LiteLLM)."""

    status = 409


class AlreadyRotated(KeyServiceError):
    """This rotation was already done (double submission) or is under way in another request."""

    status = 200

    def __init__(self, key: ApiKey) -> None:
        super().__init__(
            f"The secret of “{key.label}” was already rotated; the new secret was shown once."
        )
        self.key = key


@dataclass(frozen=True)
class RotatedKey:
    """The key with its new secret, for the one response that shows it."""

    key: ApiKey
    secret: str = field(repr=False)
    old_works_until: dt.datetime | None  # None: the old secret was deleted at once
    verb: str = "rotated"

    @property
    def grace_note(self) -> str:
        if self.old_works_until is None:
            return "The old secret no longer works."
        return (
            "The old secret keeps working until "
            f"{self.old_works_until.strftime('%Y-%m-%d %H:%M')} UTC, then it is deleted."
        )


def retired_alias(alias: str, token: str) -> str:
    """The alias an old key carries during its grace period (unique: it holds part of its
    token id), cut to LiteLLM's 255 characters."""
    suffix = f"{RETIRED_MARK}{token[:12]}"
    return alias[: ALIAS_MAX - len(suffix)] + suffix


def current_token_mark(key: ApiKey) -> str:
    """What the rotate form remembers of the token it was shown for (a replay check)."""
    return (key.litellm_token_id or "")[:16]


def rotate_key(key: ApiKey, *, actor: User, grace: str, seen_token: str = "") -> RotatedKey:
    """Give ``key`` a new secret; the old one works for ``grace`` (a GRACE_PERIODS name).

    ``seen_token`` is :func:`current_token_mark` as the form had it: when the key's token has
    changed since, this submission was already served (:class:`AlreadyRotated`).
    """
    if key.is_revoked:
        raise RotationRefused(f"“{key.label}” is revoked; a revoked key cannot be rotated.")
    if key.is_expired:
        raise RotationRefused(f"“{key.label}” has expired; create a new key instead.")
    if grace not in GRACE_PERIODS:
        raise KeyServiceError("Choose how long the old secret keeps working.")
    try:
        token = resolve_token(key)
    except UnknownAlias:
        message = f"LiteLLM does not know “{key.label}”; it cannot be rotated."
        raise RotationRefused(message) from None
    except LiteLLMError as exc:
        raise _failure(exc) from None
    if seen_token and not token.startswith(seen_token):
        raise AlreadyRotated(key)
    row_id = _claim(key, token)
    try:
        secret, old_until = _rotate_in_litellm(key, token, grace, actor)
    except BaseException:
        _release(row_id)
        raise
    if old_until is None:
        retire_due([key.id])
    return RotatedKey(key=key, secret=secret, old_works_until=old_until)


def _claim(key: ApiKey, token: str) -> int:
    """Mark the current token as being rotated (``retired_at`` without ``delete_after``)."""
    now = utcnow()
    with write_transaction() as session:
        row = current_row(session, key)
        if row is None or row.token_id != token:
            raise AlreadyRotated(key)
        claimed = session.execute(
            sa.update(ApiKeyToken)
            .where(
                ApiKeyToken.id == row.id,
                ApiKeyToken.delete_after.is_(None),
                sa.or_(
                    ApiKeyToken.retired_at.is_(None),
                    ApiKeyToken.retired_at < now - CLAIM_TIMEOUT,
                ),
            )
            .values(retired_at=now)
            .execution_options(synchronize_session=False)
        )
        row_id = row.id
    if claimed.rowcount != 1:
        raise AlreadyRotated(key)
    return row_id


def _release(row_id: int) -> None:
    try:
        with write_transaction() as session:
            session.execute(
                sa.update(ApiKeyToken)
                .where(ApiKeyToken.id == row_id, ApiKeyToken.delete_after.is_(None))
                .values(retired_at=None)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError as exc:  # the claim then times out on its own
        log.error("rotation claim %s not released: %s", row_id, exc)


def _rotate_in_litellm(
    key: ApiKey, token: str, grace: str, actor: User
) -> tuple[str, dt.datetime | None]:
    client = litellm_client()
    key_id, alias, label = key.id, key.alias, key.label
    owner: User = key.user
    owner_user_id, email = owner.litellm_user_id, owner.email
    try:
        old = client.update_key(token, key_alias=retired_alias(alias, token))
    except LiteLLMNotFound:
        raise RotationRefused(
            "LiteLLM no longer has this key's current secret (it may have been regenerated "
            "elsewhere). Reload the page and try again."
        ) from None
    except LiteLLMError as exc:
        _restore_alias(token, alias)  # the rename may have happened before the answer was lost
        raise _failure(exc) from None
    try:
        generated = client.generate_key(
            key_alias=alias,
            user_id=owner_user_id,
            # Everything that limits the key carries over (an admin may have set rate limits in
            # LiteLLM); the budget window starts afresh, with the spend carried below.
            models=old.models,
            max_budget=old.max_budget,
            budget_duration=old.budget_duration,
            rpm_limit=old.rpm_limit,
            tpm_limit=old.tpm_limit,
            duration=_remaining_lifetime(old, key),
            metadata={
                "created_by": PORTAL_TAG,
                "portal_user": email,
                "portal_label": label,
                "rotated_from": token[:12],
            },
        )
    except LiteLLMError as exc:
        _remove_new_keys(alias, owner_user_id, token)
        _restore_alias(token, alias)
        raise _failure(exc) from None
    try:
        if old.spend:
            client.update_key(generated.token_id, spend=old.spend)
        old_until = _record(key_id, token, generated, grace, owner, actor)
    except (LiteLLMError, SQLAlchemyError, TokenTaken) as exc:
        log.error("rotation of key %s undone: %s", key_id, getattr(exc, "message", exc))
        cleaned = _delete_orphan(token=generated.token_id)
        _restore_alias(token, alias)
        if isinstance(exc, LiteLLMError):
            raise _failure(exc) from None
        message = "The portal could not save the new secret, so it was deleted again. Try again."
        if not cleaned:
            message += " (Deleting it in LiteLLM failed too; an administrator has been alerted.)"
        raise StorageFailed(message) from None
    log.info("key %s rotated (grace %s)", key_id, grace)
    return generated.secret, old_until


def _record(
    key_id: int, old_token: str, generated: GeneratedKey, grace: str, owner: User, actor: User
) -> dt.datetime | None:
    """The one write transaction of a rotation; returns when the old secret stops working."""
    new_token, secret = generated.token_id, generated.secret
    now = utcnow()
    delete_after = now + GRACE_PERIODS[grace]
    with write_transaction() as session:
        session.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.token_id == old_token)
            .values(retired_at=now, delete_after=delete_after)
            .execution_options(synchronize_session=False)
        )
        add_token(session, key_id, new_token, "rotated", at=now)
        session.execute(
            sa.update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(litellm_token_id=new_token, key_prefix=f"sk-...{secret[-4:]}")
            .execution_options(synchronize_session=False)
        )
        audit.record(
            "key.rotate",
            actor=actor,
            target_user=owner,
            target_key=session.get(ApiKey, key_id),
            detail={
                "old_token_id": old_token[:8],
                "new_token_id": new_token[:8],
                "grace": grace,
                "by_owner": actor.id == owner.id,
            },
            commit=False,
        )
    return delete_after if GRACE_PERIODS[grace] else None


def _remaining_lifetime(old: KeyRecord, key: ApiKey) -> str | None:
    """The old key's remaining lifetime as a LiteLLM ``duration`` (whole seconds)."""
    expires = old.expires or as_utc(key.expires_at)
    if expires is None:
        return None
    seconds = int((as_utc(expires) - utcnow()).total_seconds())
    if seconds <= 0:
        raise RotationRefused(f"“{key.label}” has expired; create a new key instead.")
    return f"{seconds}s"


def _remove_new_keys(alias: str, owner_user_id: str, old_token: str) -> None:
    """After a failed or timed-out generate: delete whatever LiteLLM made under ``alias``."""
    try:
        listed = litellm_client().list_keys(owner_user_id, alias, force_refresh=True)
    except LiteLLMError as exc:
        log.error("ORPHAN check after a failed rotation impossible (alias %s): %s", alias, exc)
        return
    for record in listed:
        if record.token != old_token:
            _delete_orphan(token=record.token)


def _restore_alias(token: str, alias: str) -> None:
    try:
        litellm_client().update_key(token, key_alias=alias)
    except LiteLLMError as exc:
        log.error("old key %s… keeps its retired alias (not %s): %s", token[:8], alias, exc)


def _failure(exc: LiteLLMError) -> LiteLLMFailed:
    if isinstance(exc, LiteLLMUnavailable):
        return LiteLLMFailed(UNREACHABLE, 503)
    return LiteLLMFailed(f"LiteLLM could not rotate the key: {exc.message}", 502)
