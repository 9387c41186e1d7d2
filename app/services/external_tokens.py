"""Keys regenerated outside the portal (an Enterprise LiteLLM's /key/regenerate, its UI).

LiteLLM then keeps the key's alias and owner but gives it a new token id, which the portal
has never seen: the key's new usage would not be counted and revoke would delete a token that
no longer exists. Wherever the portal lists a user's keys anyway (the keys page, backfill
``--verify``, ``flask retire-tokens``, revoke) it compares: a live key under the portal's alias
with an unknown token, owned by the same LiteLLM user, joins the lineage as the current token
(the old one is retired and, if still live, deleted by the retirement path) and is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa

from app import audit
from app.models import ApiKey, User, utcnow
from app.services.lineage import TokenTaken, add_token, current_row, rotation_in_progress
from app.services.litellm import KeyRecord
from app.transactions import write_transaction

log = logging.getLogger("app.tokens")


def adopt_listed_tokens(owner: User, keys: Iterable[ApiKey], records: Iterable[KeyRecord]) -> int:
    """Adopt every token LiteLLM lists under one of ``keys``' aliases that the lineage lacks.

    ``records`` are LiteLLM's keys (any owner); only those of ``owner`` are adopted. Returns
    how many keys changed their current token.
    """
    by_alias = {r.key_alias: r for r in records if r.key_alias is not None}
    adopted = 0
    for key in keys:
        record = by_alias.get(key.alias)
        if key.revoked_at is not None or key.litellm_token_id is None or record is None:
            continue
        if record.token == key.litellm_token_id:
            continue
        if record.user_id != owner.litellm_user_id:
            log.warning("alias of key %s is held by another LiteLLM user: not adopted", key.id)
            continue
        adopted += adopt_token(key, record.token)
    return adopted


def adopt_token(key: ApiKey, token: str, *, actor: User | None = None) -> bool:
    """Make ``token`` (regenerated outside the portal) ``key``'s current token; True if done.

    Not while a rotation of the key is under way (its new token is listed before it is
    recorded), and never a token known for another key.
    """
    key_id, owner = key.id, key.user
    now = utcnow()
    try:
        with write_transaction() as session:
            key = session.get(ApiKey, key_id)
            old = current_row(session, key)
            if old is None or rotation_in_progress(old, now) or key.litellm_token_id == token:
                return False
            add_token(session, key_id, token, "external", at=now)
            old.retired_at = old.retired_at or now
            old.delete_after = now  # Enterprise archived it already; otherwise delete it now
            session.execute(
                sa.update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.litellm_token_id == old.token_id)
                .values(litellm_token_id=token)
                .execution_options(synchronize_session=False)
            )
            audit.record(
                "key.token.external",
                actor=actor,
                target_user=owner,
                target_key=key,
                detail={"old_token_id": old.token_id[:8], "new_token_id": token[:8]},
                commit=False,
            )
    except TokenTaken as exc:
        log.error("token listed under key %s's alias is on key #%s", key_id, exc.holder_key_id)
        return False
    log.info("key %s was regenerated outside the portal; new token %s… adopted", key_id, token[:8])
    return True


def sweep_regenerated(client) -> int:
    """One ``/key/list`` sweep of all keys; adopt regenerated keys of every portal user.

    For ``flask retire-tokens``. Returns how many keys got a new current token.
    """
    from app.extensions import db

    by_owner: dict[str, list[KeyRecord]] = {}
    for record in client.list_keys(None, force_refresh=True):
        by_owner.setdefault(record.user_id or "", []).append(record)
    keys = db.session.scalars(
        sa.select(ApiKey)
        .where(ApiKey.revoked_at.is_(None), ApiKey.litellm_token_id.is_not(None))
        .order_by(ApiKey.id)
    ).all()
    adopted = 0
    for key in keys:
        owner = key.user
        adopted += adopt_listed_tokens(owner, [key], by_owner.get(owner.litellm_user_id, []))
    return adopted
