"""Key lifecycle: create a LiteLLM virtual key, record it, revoke it (listing: ``key_listing``).

Two systems hold a key: LiteLLM (the key itself) and the portal's ``api_keys`` row (who owns it
and its token id). Every operation here keeps them consistent: LiteLLM is called first, and when
the row cannot be written the new LiteLLM key is deleted again, so neither side keeps an orphan.

The secret LiteLLM returns lives only in :class:`CreatedKey` (excluded from ``repr``) for the one
response that shows it. It is never stored, logged, flashed, put in the session or in a URL.

LiteLLM aliases are unique across the whole proxy, while labels are unique per user only, so the
alias (``api_keys.alias``) is ``f"{slug(uid)}-{owner_tag(uid)}--{label}"`` for the owner's
``litellm_user_id`` ``uid``: ``slug`` lower-cases and turns every character outside
``[a-z0-9._-]`` into ``-``, and ``owner_tag`` (a short hash of ``uid``) keeps two owners whose ids
slug alike apart. Keys made before the tag existed keep their stored alias.

Every key carries a fresh ``portal_request_id`` in its LiteLLM metadata (also stored on the row):
when ``/key/generate`` times out, the key that request may have made is found by it and deleted
(see :mod:`app.services.create_timeout`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from app import audit, ratelimit
from app.extensions import db
from app.models import ApiKey, ApiKeyToken, User, utcnow
from app.services import litellm_client
from app.services.create_timeout import (
    REQUEST_ID_FIELD,
    record_abandoned,
    settle_unanswered_create,
)
from app.services.litellm import (
    LiteLLMBadResponse,
    LiteLLMError,
    LiteLLMRejected,
    LiteLLMTimeout,
    LiteLLMUnavailable,
)
from app.services.revocation import delete_everywhere
from app.transactions import lock_key, write_transaction

log = logging.getLogger("app.keys")

PORTAL_TAG = "litellm-key-portal"
DEPLOYMENT_FIELD = "portal_deployment"
ALIAS_SEPARATOR = "--"
LABEL_MAX = 64
OWNER_TAG_LENGTH = 10  # hex digits of sha256(litellm_user_id): 40 bits
# api_keys.alias is String(255): slug + "-" + tag + "--" + label (≤ 64) must fit.
SLUG_MAX = 255 - 1 - OWNER_TAG_LENGTH - len(ALIAS_SEPARATOR) - LABEL_MAX
UNREACHABLE = "LiteLLM is unreachable right now, so nothing was changed. Try again in a minute."
_SLUG_RE = re.compile(r"[^a-z0-9._-]")


# --- errors ------------------------------------------------------------------------------------


class KeyServiceError(Exception):
    """A key operation was refused or failed; ``message`` is safe to show, ``status`` is the
    HTTP status the view answers with, ``field`` names the form field it belongs to (if any)."""

    status = 400
    field: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DuplicateLabel(KeyServiceError):
    """The owner already has a key with this label (revoked keys included)."""

    field = "name"


class StaleForm(KeyServiceError):
    """The form's one-time token belongs to someone else: reload the page."""


class RateLimited(KeyServiceError):
    status = 429


class LiteLLMFailed(KeyServiceError):
    """LiteLLM refused or could not be reached; nothing was changed in the portal."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class InputRefused(LiteLLMFailed):
    """LiteLLM refused what the user asked for (400/409/422): counts against the rate limit."""


class StorageFailed(KeyServiceError):
    """The portal could not save the row; the LiteLLM key was deleted again (or logged)."""

    status = 503


class AlreadyCreated(KeyServiceError):
    """This form was already submitted: ``key`` is the row it created. No secret to show."""

    status = 200

    def __init__(self, key: ApiKey) -> None:
        super().__init__(f"This key was already created: “{key.label}”.")
        self.key = key


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewKeyRequest:
    """Validated create-form input (see ``app.keys.forms``)."""

    label: str
    idempotency_token: str
    max_budget: float | None = None
    duration: str | None = None
    models: tuple[str, ...] = ()
    budget_duration: str | None = None


@dataclass(frozen=True)
class CreatedKey:
    """The stored row plus the secret, for the single response that shows it."""

    key: ApiKey
    secret: str = field(repr=False)


@dataclass(frozen=True)
class RevokeResult:
    key: ApiKey
    already_revoked: bool  # the portal had already revoked it: nothing was done
    gone_in_litellm: bool  # LiteLLM answered 404: someone deleted it there before


# --- naming ------------------------------------------------------------------------------------


def slug(value: str) -> str:
    """Lower-case ``value`` and replace every character outside ``[a-z0-9._-]`` with ``-``.

    Truncated to ``SLUG_MAX`` so the alias fits ``api_keys.alias``. Two ids can share a slug
    (``a@b.c`` and ``a-b.c``): :func:`owner_tag` keeps their new aliases apart; for aliases made
    before it, LiteLLM's alias uniqueness and the unique ``alias`` column refuse the second key,
    and ``create_key`` cleans up, so the collision cannot leak a key.
    """
    return _SLUG_RE.sub("-", value.lower())[:SLUG_MAX]


def owner_tag(litellm_user_id: str) -> str:
    """A short hash of the exact user id: ``team-x@…`` and ``team+x@…`` slug alike, not this."""
    return hashlib.sha256(litellm_user_id.encode()).hexdigest()[:OWNER_TAG_LENGTH]


def alias_prefixes(litellm_user_id: str) -> tuple[str, str]:
    """The alias prefixes of this owner's keys: current scheme first, then the untagged one of
    keys made before owner tags (still stored and used for those keys)."""
    base = slug(litellm_user_id)
    return (
        f"{base}-{owner_tag(litellm_user_id)}{ALIAS_SEPARATOR}",
        f"{base}{ALIAS_SEPARATOR}",
    )


def alias_for(owner: User, label: str) -> str:
    """The LiteLLM ``key_alias`` (and ``api_keys.alias``) of ``owner``'s new key ``label``."""
    return f"{alias_prefixes(owner.litellm_user_id)[0]}{label}"


def deployment_id() -> str:
    """This deployment's identifier in its keys' metadata (``PORTAL_DEPLOYMENT_ID``, else a
    digest of the database URL every instance shares): reconcile deletes only keys with it."""
    configured = current_app.config.get("PORTAL_DEPLOYMENT_ID")
    if configured:
        return configured
    url = str(current_app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    return "db-" + hashlib.sha256(url.encode()).hexdigest()[:16]


def portal_metadata(email: str, label: str, request_id: str | None = None) -> dict[str, str]:
    """The LiteLLM metadata the portal writes on every key it makes."""
    metadata = {
        "created_by": PORTAL_TAG,
        "portal_user": email,
        "portal_label": label,
        DEPLOYMENT_FIELD: deployment_id(),
    }
    if request_id is not None:
        metadata[REQUEST_ID_FIELD] = request_id
    return metadata


def new_request_id() -> str:
    """A fresh id for one ``/key/generate`` call, put in the key's LiteLLM metadata."""
    return secrets.token_hex(16)


# --- create ------------------------------------------------------------------------------------


def _by_idempotency_token(token: str) -> ApiKey | None:
    return db.session.scalar(sa.select(ApiKey).where(ApiKey.idempotency_token == token))


def _check_replay(owner: User, token: str) -> None:
    existing = _by_idempotency_token(token)
    if existing is None:
        return
    if existing.user_id != owner.id:
        raise StaleForm("This form has expired. Reload the page and try again.")
    raise AlreadyCreated(existing)


def _litellm_failure(exc: LiteLLMError, label: str = "") -> LiteLLMFailed:
    if isinstance(exc, LiteLLMUnavailable):
        return LiteLLMFailed(UNREACHABLE, 503)
    if isinstance(exc, LiteLLMRejected) and "already exists" in exc.message:
        # LiteLLM's message names the alias, which names its owner: never shown.
        return InputRefused(
            f"The name “{label}” cannot be used for a new key right now. Choose another name.",
            409,
        )
    if isinstance(exc, LiteLLMRejected):
        return InputRefused(f"LiteLLM refused the key: {exc.message}", 409)
    return LiteLLMFailed(f"LiteLLM could not create the key: {exc.message}", 502)


def _delete_orphan(
    *,
    token: str | None = None,
    alias: str | None = None,
    request_id: str | None = None,
    owner: User | None = None,
) -> bool:
    """Delete a LiteLLM key the portal could not record; False (logged loudly) if that fails.

    With ``request_id`` a failed delete is recorded as abandoned, so ``reconcile-keys
    --delete-orphans`` may delete the key later (it deletes nothing else)."""
    try:
        if token is not None:
            litellm_client().delete_key(token)
        else:
            litellm_client().delete_key(key_alias=alias)
    except LiteLLMError as exc:
        log.error(
            "ORPHAN LiteLLM key left behind (token id %s, alias %s): cleanup failed: %s",
            token,
            alias,
            exc.message,
        )
        if request_id is not None:
            record_abandoned(owner, request_id=request_id, alias=alias, token=token)
        return False
    return True


def create_key(owner: User, request: NewKeyRequest, *, actor: User | None = None) -> CreatedKey:
    """Create ``owner``'s key in LiteLLM, then record it; return the row and the secret.

    Order: replay check (same ``idempotency_token`` → :class:`AlreadyCreated`, no LiteLLM call),
    label check, a rate-limit slot, ``/key/generate``, one short write transaction (row + audit
    event). No transaction is open while LiteLLM works. When the row cannot be written the
    LiteLLM key is deleted again; when that is because a concurrent identical submission won,
    the winner's row is reported as :class:`AlreadyCreated`. The slot stays used only when the
    key was made or LiteLLM refused the user's input; any other failure gives it back.
    """
    actor = actor or owner
    _check_replay(owner, request.idempotency_token)
    label_taken = db.session.scalar(
        sa.select(ApiKey.id).where(ApiKey.user_id == owner.id, ApiKey.label == request.label)
    )
    if label_taken is not None:
        raise DuplicateLabel(f"You already have a key named “{request.label}” (revoked included).")
    slot = ratelimit.reserve(owner, "key-create", current_app.config["RATE_LIMIT_KEY_CREATE"])
    if slot is None:
        raise RateLimited(
            "You have created too many keys recently. Wait a while before creating another."
        )
    try:
        return _generate_and_record(owner, request, actor)
    except InputRefused:
        raise
    except BaseException:
        ratelimit.release(slot)
        raise


def _generate_and_record(owner: User, request: NewKeyRequest, actor: User) -> CreatedKey:
    alias = alias_for(owner, request.label)
    owner_id, litellm_user_id, email = owner.id, owner.litellm_user_id, owner.email
    request_id = new_request_id()
    db.session.rollback()  # end the read transaction: nothing stays open during the call
    try:
        generated = litellm_client().generate_key(
            key_alias=alias,
            user_id=litellm_user_id,
            models=request.models,
            max_budget=request.max_budget,
            duration=request.duration,
            budget_duration=request.budget_duration,
            metadata=portal_metadata(email, request.label, request_id),
        )
    except LiteLLMError as exc:
        if isinstance(exc, LiteLLMTimeout):
            # It may have made the key before the answer was lost: find out before answering.
            message = settle_unanswered_create(
                owner, actor, alias=alias, label=request.label, request_id=request_id
            )
            raise LiteLLMFailed(message, 503) from None
        if isinstance(exc, LiteLLMBadResponse) and exc.status == 200:
            # LiteLLM made a key but its answer is unusable (e.g. token_id ≠ sha256(key)).
            _delete_orphan(alias=alias, request_id=request_id, owner=owner)
        elif isinstance(exc, LiteLLMRejected):
            # A concurrent identical submission may have taken the alias first.
            _check_replay(owner, request.idempotency_token)
        log.warning("key create refused for user %s: %s", owner_id, exc.message)
        raise _litellm_failure(exc, request.label) from None

    key = ApiKey(
        user_id=owner_id,
        alias=alias,
        label=request.label,
        key_prefix=f"sk-...{generated.secret[-4:]}",
        litellm_token_id=generated.token_id,
        max_budget=request.max_budget,
        budget_duration=request.budget_duration,
        models=",".join(request.models) or None,
        expires_at=generated.expires,
        litellm_created_at=utcnow(),  # LiteLLM made it just now
        idempotency_token=request.idempotency_token,
        request_id=request_id,
    )
    try:
        with write_transaction() as session:
            session.add(key)
            session.flush()
            session.add(
                ApiKeyToken(
                    api_key_id=key.id,
                    token_id=generated.token_id,
                    became_current_at=key.created_at,
                    source="created",
                )
            )
            audit.record(
                "key.create",
                actor=actor,
                target_user=owner,
                target_key=key,
                detail={"alias": alias, "token_id": generated.token_id},
                commit=False,
            )
    except SQLAlchemyError as exc:
        log.error("key row for alias %s not saved (%s); deleting it in LiteLLM", alias, exc)
        cleaned = _delete_orphan(token=generated.token_id, request_id=request_id, owner=owner)
        winner = _by_idempotency_token(request.idempotency_token)
        if winner is not None and winner.user_id == owner_id:
            raise AlreadyCreated(winner) from None
        message = "The portal could not save the new key, so it was deleted again. Try again."
        if not cleaned:
            message += " (Deleting it in LiteLLM failed too; an administrator has been alerted.)"
        raise StorageFailed(message) from None
    log.info("key %s created for user %s (alias %s)", key.id, owner_id, alias)
    return CreatedKey(key=key, secret=generated.secret)


# --- revoke ------------------------------------------------------------------------------------


def revoke_key(key: ApiKey, *, actor: User) -> RevokeResult:
    """Delete ``key`` in LiteLLM and mark it revoked; the row stays for usage history.

    Deletes by token id, or by alias while the token id is unknown; after a 404 or an unclear
    answer every live key of it is found and deleted (``app.services.revocation``), and old
    secrets in their grace period go too. When LiteLLM cannot be reached nothing changes locally
    (:class:`LiteLLMFailed`). Usable by admins: ``revoke_key(key, actor=admin)``.
    """
    if key.revoked_at is not None:
        return RevokeResult(key, already_revoked=True, gone_in_litellm=False)
    key_id = key.id
    handled = {key.litellm_token_id} if key.litellm_token_id else set()
    db.session.rollback()  # end the read transaction: nothing stays open during the call
    try:
        deleted = delete_everywhere(key)  # every live secret of it, rotated ones included
        updated = _mark_revoked(key, actor, deleted, handled)
    except LiteLLMError as exc:
        log.warning("key %s revoke failed in LiteLLM: %s", key_id, exc.message)
        if isinstance(exc, LiteLLMUnavailable):
            raise LiteLLMFailed(UNREACHABLE, 503) from None
        raise LiteLLMFailed(f"LiteLLM could not revoke the key: {exc.message}", 502) from None
    except SQLAlchemyError as exc:
        # LiteLLM already refuses the key; a retry gets 404 there and then marks it revoked.
        log.error("key %s deleted in LiteLLM but not marked revoked: %s", key_id, exc)
        raise StorageFailed(
            "The key was deleted in LiteLLM but the portal could not record it. Revoke it again."
        ) from None
    db.session.refresh(key)
    log.info("key %s revoked by user %s", key.id, actor.id)
    return RevokeResult(key, already_revoked=not updated, gone_in_litellm=not deleted)


_REVOKE_ROUNDS = 5


def _mark_revoked(key: ApiKey, actor: User, deleted: bool, handled: set[str]) -> bool:
    """Mark ``key`` revoked once no token of its lineage can still be live; True when this
    call marked it (only the first of two concurrent revokes does).

    The check and the mark happen in one transaction holding the key's row, which a rotation's
    record also holds: a rotation that recorded a new token before it is seen here and that
    token deleted first; one that records after it finds the key revoked and deletes its own."""
    key_id = key.id
    for _ in range(_REVOKE_ROUNDS):
        with write_transaction() as session:
            lock_key(session, key_id)
            live = [
                token
                for token in session.scalars(
                    sa.select(ApiKeyToken.token_id).where(
                        ApiKeyToken.api_key_id == key_id, ApiKeyToken.deleted_at.is_(None)
                    )
                )
                if token not in handled
            ]
            if not live:
                return _write_revoked(session, key, actor, deleted)
        for token in live:  # recorded by a rotation meanwhile
            log.warning("revoke of key %s: deleting token %s… made meanwhile", key_id, token[:8])
            litellm_client().delete_key(token)
            handled.add(token)
    raise LiteLLMError("the key kept getting new secrets while it was revoked; try again")


def _write_revoked(session, key: ApiKey, actor: User, deleted: bool) -> bool:
    key_id = key.id
    updated = session.execute(
        sa.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:
        return False
    session.execute(
        sa.update(ApiKeyToken)
        .where(ApiKeyToken.api_key_id == key_id, ApiKeyToken.deleted_at.is_(None))
        .values(deleted_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        "key.revoke",
        actor=actor,
        target_user=key.user,
        target_key=key,
        detail={
            "litellm": "deleted" if deleted else "already gone",
            "by_owner": actor.id == key.user_id,
        },
        commit=False,
    )
    return True
