"""Writing LiteLLM token ids onto api_keys rows, safely under concurrency."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.db_errors import is_unavailable
from app.extensions import db
from app.models import ApiKey
from app.services.external_tokens import adopt_listed_tokens
from app.services.lineage import TokenTaken, add_token
from app.transactions import write_transaction

log = logging.getLogger("app.tokens")


def store_token_if_missing(key_id: int, token: str, *, commit: bool = True) -> bool:
    """Set ``litellm_token_id`` only while it is still NULL; True when this call wrote it.

    The ``WHERE litellm_token_id IS NULL`` makes the write safe while the portal serves and
    while another backfill runs: the first writer wins and nobody overwrites a stored id.
    A token already stored on another row, or in another key's lineage, violates a unique
    index: nothing is written. A written token also starts the key's lineage.
    """
    statement = (
        sa.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.litellm_token_id.is_(None))
        .values(litellm_token_id=token)
        .execution_options(synchronize_session=False)
    )

    def write(session) -> int:
        written = session.execute(statement).rowcount
        if written == 1:
            add_token(session, key_id, token, "backfill")
        return written

    try:
        if commit:
            with write_transaction() as session:
                written = write(session)
        else:
            with db.session.begin_nested():
                written = write(db.session)
    except (IntegrityError, TokenTaken):
        return False
    return written == 1


def remember_litellm_created(keys, seen) -> None:
    """Store LiteLLM's ``created_at`` (``seen``: key id → datetime) on keys that have none yet,
    the first time a list shows it; a database that cannot write now is left for later."""
    missing = {k.id: seen[k.id] for k in keys if k.litellm_created_at is None and seen.get(k.id)}
    if not missing:
        return
    try:
        with write_transaction() as session:
            for key_id, created in missing.items():
                session.execute(
                    sa.update(ApiKey)
                    .where(ApiKey.id == key_id, ApiKey.litellm_created_at.is_(None))
                    .values(litellm_created_at=created)
                    .execution_options(synchronize_session=False)
                )
    except SQLAlchemyError as exc:
        if not is_unavailable(exc):
            raise
        log.warning("LiteLLM creation dates not stored: %s", type(exc).__name__)


class UnknownAlias(LookupError):
    """LiteLLM lists no key of this owner whose ``key_alias`` equals the portal's name for it."""

    def __init__(self, alias: str):
        self.alias = alias
        super().__init__(f"LiteLLM has no key with alias “{alias}”.")


def resolve_token(key: ApiKey, *, client=None) -> str:
    """The LiteLLM token id of ``key``, looked up by alias at most once per key.

    Keys made before the portal stored token ids have none; their owner's ``/key/list`` (cached
    for LITELLM_KEY_LIST_TTL) is searched for the exact alias and the token found is written
    with :func:`store_token_if_missing`, so later views never look it up again.
    Raises :class:`UnknownAlias` when LiteLLM does not know the alias, ``LiteLLMError`` when
    LiteLLM cannot answer.
    """
    if key.litellm_token_id:
        return key.litellm_token_id
    found = resolve_missing_tokens(key.user, [key], client=client)
    if key.id not in found:
        raise UnknownAlias(key.alias)
    return found[key.id]


def resolve_missing_tokens(user, keys, *, client=None) -> dict[int, str]:
    """Fill in missing token ids of ``user``'s ``keys`` with ONE ``/key/list`` sweep.

    Returns key id → token for every key resolved (already stored ones included); keys absent
    from the result are unknown to LiteLLM (e.g. revoked and deleted before ids were stored).
    Only keys listed for exactly this ``litellm_user_id`` are matched, so another user's key can
    never be attached to this user's row.
    """
    resolved = {k.id: k.litellm_token_id for k in keys if k.litellm_token_id}
    missing = [k for k in keys if not k.litellm_token_id and k.user_id == user.id]
    if not missing:
        return resolved
    if client is None:
        from app.services import litellm_client

        client = litellm_client()
    listed = client.list_keys(user.litellm_user_id)
    by_alias = listed.by_alias()
    # The look-up also shows keys regenerated outside the portal: they join their lineage.
    known = [k for k in keys if k.litellm_token_id and k.user_id == user.id]
    if adopt_listed_tokens(user, known, listed):
        resolved = {k.id: db.session.get(ApiKey, k.id).litellm_token_id for k in known}
    for key in missing:
        record = by_alias.get(key.alias)
        if record is None or record.user_id != user.litellm_user_id:
            continue
        key_id = key.id
        try:
            store_token_if_missing(key_id, record.token)
        except SQLAlchemyError as exc:
            if not is_unavailable(exc):
                raise
            # A database that cannot be written now (read-only) must not hide usage: use the
            # token found; a later view writes it.
            log.warning("token id of key %s not stored: %s", key_id, type(exc).__name__)
            resolved[key_id] = record.token
            continue
        stored = db.session.get(ApiKey, key_id)
        # Another writer may have won the race; the stored value is the truth either way.
        if stored is not None and stored.litellm_token_id:
            resolved[key_id] = stored.litellm_token_id
    return resolved
