"""Rotating a key's secret, on any LiteLLM (open source included, without /key/regenerate).

A rotation makes a NEW LiteLLM key for the same portal key and keeps the old one working for
a grace period the owner picks. LiteLLM requires unique aliases and the live key must stay
findable by the portal's alias, so:

1. the key's live settings are read from ``/key/info`` (a blocked, expired or deleted key is
   refused) and a slot of the owner's rotation rate limit is taken;
2. the current token is *claimed* in ``api_key_tokens`` (a double submission or a second
   tab finds it claimed and gets :class:`AlreadyRotated`; one new key, never two), and an
   older secret still in its grace period is deleted: a key has at most one grace secret;
3. the old key is renamed to ``<alias>@retired-<first 12 of its token id>`` (``/key/update``);
4. a new key is generated under the portal's alias with everything that limits or scopes the
   old one (:mod:`app.services.rotation_carry`) and its remaining lifetime; the old key's
   spend is carried over, plus the share of what is left that the old secret keeps for its
   grace (:func:`grace_share`), so both secrets together can never spend more than the key
   had left;
5. one write transaction, holding the key's row, re-checks that the key is not revoked
   (revoke always wins: a rotation that finds it revoked deletes the key it made), retires
   the old token (``delete_after`` = its grace end), makes the new one current and audits;
6. the old secret gets its grace end as an expiry in LiteLLM itself and its share as budget,
   so it stops on time even when no page is viewed and no cron runs.

When a LiteLLM step before 5 fails, everything before it is undone: the new key (or whatever
LiteLLM made under the alias before a timeout) is deleted, the old key gets its alias back and
the claim is released, so the old secret keeps working and no orphan is left. When step 6
fails the old secret is deleted at once rather than left with more than its share.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from app import audit, ratelimit
from app.models import ApiKey, ApiKeyToken, User, utcnow
from app.services import litellm_client
from app.services.keys import (
    UNREACHABLE,
    KeyServiceError,
    LiteLLMFailed,
    RateLimited,
    StorageFailed,
    _delete_orphan,
    new_request_id,
    portal_metadata,
)
from app.services.lineage import CLAIM_TIMEOUT, TokenTaken, add_token, as_utc, current_row
from app.services.litellm import (
    GeneratedKey,
    KeyInfo,
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMUnavailable,
)
from app.services.rotation_carry import GRACE_SHARE_FIELD, carried_metadata, carried_settings
from app.services.token_retirement import due_rows, retire_due
from app.services.tokens import UnknownAlias, resolve_token
from app.transactions import lock_key, write_transaction

log = logging.getLogger("app.keys")

GRACE_PERIODS = {
    "none": dt.timedelta(0),
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
}
RETIRED_MARK = "@retired-"  # "@" never occurs in a portal label, so never in a portal alias
ALIAS_MAX = 255  # LiteLLM's limit on key_alias


class RotationRefused(KeyServiceError):
    """The key cannot be rotated (revoked, expired, blocked, unknown to LiteLLM)."""

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
    old_works_until: dt.datetime | None  # None: the old secret was deleted (or is being)
    verb: str = "rotated"
    old_still_live: bool = False  # grace "none", but LiteLLM did not delete the old secret yet
    old_budget: float | None = None  # what the old secret may still spend in its grace

    @property
    def grace_note(self) -> str:
        if self.old_still_live:
            return (
                "LiteLLM did not delete the old secret yet, so it may still work for a while; "
                "the portal keeps trying (flask retire-tokens)."
            )
        if self.old_works_until is None:
            return "The old secret no longer works."
        note = (
            "The old secret keeps working until "
            f"{self.old_works_until.strftime('%Y-%m-%d %H:%M')} UTC, then it is deleted."
        )
        if self.old_budget is not None:
            note += f" Until then it may spend at most ${self.old_budget:,.2f} more."
        return note


def retired_alias(alias: str, token: str) -> str:
    """The alias an old key carries during its grace period (unique: it holds part of its
    token id), cut to LiteLLM's 255 characters."""
    suffix = f"{RETIRED_MARK}{token[:12]}"
    return alias[: ALIAS_MAX - len(suffix)] + suffix


def current_token_mark(key: ApiKey) -> str:
    """What the rotate form remembers of the token it was shown for (a replay check)."""
    return (key.litellm_token_id or "")[:16]


def grace_secret_until(key: ApiKey) -> dt.datetime | None:
    """When the secret of an earlier rotation still in its grace stops (None: there is none);
    a new rotation ends it at once."""
    ends = [as_utc(row.delete_after) for row in due_rows([key.id], all_retired=True)]
    return max(ends) if ends else None


def grace_share(info: KeyInfo, grace: dt.timedelta) -> float:
    """What the old secret may spend in its grace: half of what the key has left of its budget
    (none without a budget or a grace). The new secret's carried spend includes this share, so
    both secrets together never spend more than the key had left."""
    if not grace or info.max_budget is None:
        return 0.0
    return max(0.0, info.max_budget - info.spend) / 2


def grace_length(info: KeyInfo, grace: dt.timedelta, now: dt.datetime) -> dt.timedelta:
    """The grace, cut at the key's next budget reset: a reset would give the old secret its
    share again on top of the new secret's whole budget."""
    reset = as_utc(info.budget_reset_at)
    if grace and reset is not None and now < reset < now + grace:
        return max(reset - now, dt.timedelta(seconds=1))
    return grace


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
    info = _live_info(key, token)
    slot = ratelimit.reserve(key.user, "key-rotate", current_app.config["RATE_LIMIT_KEY_ROTATE"])
    if slot is None:
        raise RateLimited(
            "This key's owner has rotated too many secrets recently. Wait a while, or revoke "
            "the key if a secret leaked."
        )
    try:
        row_id = _claim(key, token)
    except BaseException:
        ratelimit.release(slot)
        raise
    try:
        if _end_earlier_grace(key):
            info = _live_info(key, token)  # its spend changed: an unspent share came back
        rotated = _rotate_in_litellm(key, token, info, grace, actor)
    except BaseException:
        _release(row_id)
        ratelimit.release(slot)
        raise
    return rotated


def _live_info(key: ApiKey, token: str) -> KeyInfo:
    """The key as LiteLLM has it now; refuses what must not be rotated."""
    try:
        info = litellm_client().key_info(token, force_refresh=True)
    except LiteLLMNotFound:
        raise RotationRefused(
            f"LiteLLM no longer has “{key.label}”'s current secret; it cannot be rotated."
        ) from None
    except LiteLLMError as exc:
        raise _failure(exc) from None
    if info.deleted:
        raise RotationRefused(f"“{key.label}” was deleted in LiteLLM; it cannot be rotated.")
    if info.blocked:
        raise RotationRefused(
            f"“{key.label}” is blocked in LiteLLM; a blocked key cannot be rotated. "
            "Ask an administrator to unblock it first."
        )
    if info.expires is not None and as_utc(info.expires) <= utcnow():
        raise RotationRefused(f"“{key.label}” has expired; create a new key instead.")
    return info


def _end_earlier_grace(key: ApiKey) -> bool:
    """Delete the secrets of earlier rotations still in their grace (one grace secret at most),
    giving back what they left of their share; True when something was given back."""
    report = retire_due([key.id], all_retired=True, give_back=True)
    if report.failed:
        raise LiteLLMFailed(
            "The previous secret, still in its grace period, could not be deleted, so the key "
            f"was not rotated again: {report.failed[0][1]}",
            503,
        )
    return bool(report.given_back)


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


class _RevokedMeanwhile(Exception):
    """The key was revoked while the rotation talked to LiteLLM."""


def _rotate_in_litellm(
    key: ApiKey, token: str, info: KeyInfo, grace: str, actor: User
) -> RotatedKey:
    client = litellm_client()
    key_id, alias, label = key.id, key.alias, key.label
    owner: User = key.user
    owner_user_id, email = owner.litellm_user_id, owner.email
    now = utcnow()
    length = grace_length(info, GRACE_PERIODS[grace], now)
    share = grace_share(info, length)
    try:
        client.update_key(token, key_alias=retired_alias(alias, token))
    except LiteLLMNotFound:
        raise RotationRefused(
            "LiteLLM no longer has this key's current secret (it may have been regenerated "
            "elsewhere). Reload the page and try again."
        ) from None
    except LiteLLMError as exc:
        _restore_alias(token, alias)  # the rename may have happened before the answer was lost
        raise _failure(exc) from None
    request_id = new_request_id()
    metadata = carried_metadata(
        info.settings, {**portal_metadata(email, label, request_id), "rotated_from": token[:12]}
    )
    try:
        generated = client.generate_key(
            key_alias=alias,
            user_id=owner_user_id,
            carried=carried_settings(info.settings),
            duration=_remaining_lifetime(info, key, now),
            metadata=metadata,
        )
    except LiteLLMError as exc:
        _remove_new_keys(alias, owner, token, request_id)
        _restore_alias(token, alias)
        raise _failure(exc) from None
    try:
        if info.spend or share:
            client.update_key(generated.token_id, spend=info.spend + share)
        works_until = _record(key_id, token, generated, length, owner, actor, grace)
    except (LiteLLMError, SQLAlchemyError, TokenTaken, _RevokedMeanwhile) as exc:
        log.error("rotation of key %s undone: %s", key_id, getattr(exc, "message", exc))
        cleaned = _delete_orphan(token=generated.token_id, request_id=request_id, owner=owner)
        if isinstance(exc, _RevokedMeanwhile):
            if not cleaned:
                _leave_for_retirement(key_id, generated.token_id)
            raise RotationRefused(f"“{label}” was revoked meanwhile; it was not rotated.") from None
        _restore_alias(token, alias)
        if isinstance(exc, LiteLLMError):
            raise _failure(exc) from None
        message = "The portal could not save the new secret, so it was deleted again. Try again."
        if not cleaned:
            message += " (Deleting it in LiteLLM failed too; an administrator has been alerted.)"
        raise StorageFailed(message) from None
    log.info("key %s rotated (grace %s)", key_id, grace)
    rotated = RotatedKey(key=key, secret=generated.secret, old_works_until=None)
    if works_until is None:
        report = retire_due([key_id])
        return rotated if not report.failed else replace(rotated, old_still_live=True)
    return _limit_old_secret(rotated, token, info, works_until, share)


def _limit_old_secret(
    rotated: RotatedKey, token: str, info: KeyInfo, works_until: dt.datetime, share: float
) -> RotatedKey:
    """Give the old secret its grace end as an expiry in LiteLLM and its share as budget.

    LiteLLM 1.108 sets ``expires`` from ``duration`` on /key/update (``expires`` itself is
    ignored there). When LiteLLM refuses, the old secret is deleted now rather than left
    working past its grace with more than its share."""
    seconds = max(1, int((works_until - utcnow()).total_seconds()))
    fields: dict = {"duration": f"{seconds}s"}
    if info.max_budget is not None:
        fields["max_budget"] = info.spend + share
        fields["metadata"] = {**dict(info.settings.get("metadata") or {}), GRACE_SHARE_FIELD: share}
    try:
        litellm_client().update_key(token, **fields)
    except LiteLLMError as exc:
        log.error("old secret of key %s not limited (%s): deleting it now", rotated.key.id, exc)
        _end_grace_now(rotated.key.id, token)
        report = retire_due([rotated.key.id])
        return replace(rotated, old_still_live=bool(report.failed))
    budget = share if info.max_budget is not None else None
    return replace(rotated, old_works_until=works_until, old_budget=budget)


def _end_grace_now(key_id: int, token: str) -> None:
    with write_transaction() as session:
        session.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.token_id == token, ApiKeyToken.api_key_id == key_id)
            .values(delete_after=utcnow())
            .execution_options(synchronize_session=False)
        )


def _leave_for_retirement(key_id: int, token: str) -> None:
    """A new secret of a revoked key that LiteLLM would not delete: recorded as due, so
    ``flask retire-tokens`` (and reconcile) find and delete it."""
    now = utcnow()
    try:
        with write_transaction() as session:
            row = add_token(session, key_id, token, "rotated", at=now)
            row.retired_at, row.delete_after = now, now
    except (SQLAlchemyError, TokenTaken) as exc:
        log.error("ORPHAN secret %s… of revoked key %s not recorded: %s", token[:8], key_id, exc)


def _record(
    key_id: int,
    old_token: str,
    generated: GeneratedKey,
    length: dt.timedelta,
    owner: User,
    actor: User,
    grace: str,
) -> dt.datetime | None:
    """The one write transaction of a rotation; returns when the old secret stops working.

    It holds the key's row and re-checks ``revoked_at``: a revoke that marked the key while
    LiteLLM was making the new secret wins (:class:`_RevokedMeanwhile`), and a revoke that
    comes after this finds the new token in the lineage."""
    new_token, secret = generated.token_id, generated.secret
    now = utcnow()
    delete_after = now + length
    with write_transaction() as session:
        lock_key(session, key_id)
        revoked = session.scalar(sa.select(ApiKey.revoked_at).where(ApiKey.id == key_id))
        if revoked is not None:
            raise _RevokedMeanwhile()
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


def _remaining_lifetime(info: KeyInfo, key: ApiKey, now: dt.datetime) -> str | None:
    """The old key's remaining lifetime as a LiteLLM ``duration`` (whole seconds)."""
    expires = info.expires or as_utc(key.expires_at)
    if expires is None:
        return None
    seconds = int((as_utc(expires) - now).total_seconds())
    if seconds <= 0:
        raise RotationRefused(f"“{key.label}” has expired; create a new key instead.")
    return f"{seconds}s"


def _remove_new_keys(alias: str, owner: User, old_token: str, request_id: str) -> None:
    """After a failed or timed-out generate: delete whatever LiteLLM made under ``alias``."""
    try:
        listed = litellm_client().list_keys(owner.litellm_user_id, alias, force_refresh=True)
    except LiteLLMError as exc:
        log.error("ORPHAN check after a failed rotation impossible (alias %s): %s", alias, exc)
        return
    for record in listed:
        if record.token != old_token:
            _delete_orphan(token=record.token, request_id=request_id, owner=owner)


def _restore_alias(token: str, alias: str) -> None:
    try:
        litellm_client().update_key(token, key_alias=alias)
    except LiteLLMError as exc:
        log.error("old key %s… keeps its retired alias (not %s): %s", token[:8], alias, exc)


def _failure(exc: LiteLLMError) -> LiteLLMFailed:
    if isinstance(exc, LiteLLMUnavailable):
        return LiteLLMFailed(UNREACHABLE, 503)
    return LiteLLMFailed(f"LiteLLM could not rotate the key: {exc.message}", 502)
