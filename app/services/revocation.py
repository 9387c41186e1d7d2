"""Revoke that really revokes: no secret of the key works afterwards, whatever LiteLLM did.

Deleting the current token is not enough: an Enterprise proxy may have regenerated the key
(LiteLLM answers 404 for the old token while the new one works), a timeout leaves open whether
the delete happened, and a rotation's old secret may still be in its grace period. So after a
404 or an unclear answer, the owner's keys are listed afresh and every live key under the
portal's alias (same owner only) or with a token of the key's lineage is deleted; old tokens
still in their grace period are deleted too. The caller marks the key revoked only when this
returns, i.e. when LiteLLM has no live key for it.
"""

from __future__ import annotations

import logging

from app.models import ApiKey
from app.services import litellm_client
from app.services.external_tokens import adopt_token
from app.services.lineage import key_by_token
from app.services.litellm import (
    LiteLLMBadResponse,
    LiteLLMError,
    LiteLLMServerError,
    LiteLLMUnavailable,
)
from app.services.token_retirement import retire_due

log = logging.getLogger("app.keys")

_UNCLEAR = (LiteLLMUnavailable, LiteLLMServerError, LiteLLMBadResponse)


class OldSecretsLive(LiteLLMError):
    """An old secret still in its grace period could not be deleted."""


def delete_everywhere(key: ApiKey) -> bool:
    """Delete every live LiteLLM key of ``key``; True when LiteLLM deleted the current token.

    False means the current token was already gone (what was found live under the alias has
    been deleted). Raises ``LiteLLMError`` when LiteLLM cannot be asked or still lists a live
    key: the caller then changes nothing locally.
    """
    client = litellm_client()
    token, alias = key.litellm_token_id, key.alias
    try:
        if token is not None:
            deleted = client.delete_key(token)
        else:
            deleted = client.delete_key(key_alias=alias)
    except _UNCLEAR as exc:
        log.warning("revoke of key %s unclear (%s): looking it up", key.id, exc.message)
        deleted = None
    if not deleted:
        _delete_live(key)
    report = retire_due([key.id], all_retired=True)
    if report.failed:
        raise OldSecretsLive(f"an old secret of the key was not deleted: {report.failed[0][1]}")
    if deleted is None:
        deleted = True  # the lookup found it gone: our delete (or a retry of it) did it
    return deleted


def _delete_live(key: ApiKey) -> None:
    """List the owner's keys afresh and delete every live one that belongs to ``key``."""
    owner = key.user
    client = litellm_client()
    lineage = set(key_by_token([key]))
    listed = client.list_keys(owner.litellm_user_id, force_refresh=True)
    for record in listed:
        if record.user_id != owner.litellm_user_id:
            continue
        if record.key_alias != key.alias and record.token not in lineage:
            continue
        if record.token not in lineage:
            adopt_token(key, record.token)  # regenerated outside the portal: audited
        log.warning("revoke of key %s: deleting live token %s…", key.id, record.token[:8])
        if not client.delete_key(record.token):
            continue  # gone meanwhile
    # A key made meanwhile under the alias would show here; the next revoke deletes it.
