"""What a ``/key/generate`` that got no answer did, found out before the user is answered.

LiteLLM may have made the key and lost only the answer (a timeout after the action took effect).
Nobody saw that key's secret, so nobody can use it: the key carrying this request's
``portal_request_id`` is looked up by its alias and deleted, and the user is told to try again,
which then succeeds. Every such request leaves a ``key.create.timeout`` audit event naming the
request id; ``flask reconcile-keys`` adopts a key only when it carries one of those ids (when
this lookup could not reach LiteLLM either).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from app import audit
from app.extensions import db
from app.models import User
from app.services import litellm_client
from app.services.litellm import LiteLLMError

log = logging.getLogger("app.keys")

TIMEOUT_ACTION = "key.create.timeout"
# A key the portal made and then could neither record nor delete (creation or rotation): the
# only kind ``reconcile-keys --delete-orphans`` deletes, by its request id.
ABANDONED_ACTION = "key.abandoned"
REQUEST_ID_FIELD = "portal_request_id"

RETRY = "LiteLLM did not answer in time. No key was made for you: try again."
UNKNOWN = (
    "LiteLLM did not answer in time and could not be asked what happened. No key was shown; "
    "try again in a minute."
)


def settle_unanswered_create(
    owner: User, actor: User, *, alias: str, label: str, request_id: str
) -> str:
    """Delete the key this unanswered request may have made; the message for the user.

    Looks ``alias`` up with one fresh ``/key/list?key_alias=`` call; only a key of this owner
    whose metadata carries ``request_id`` is deleted (a key with the alias made by anything else
    is left alone). Records the outcome as a ``key.create.timeout`` audit event.
    """
    client = litellm_client()
    owner_id = owner.id
    outcome = "not made"
    try:
        found = client.list_keys(None, key_alias=alias, force_refresh=True)
        made = [
            r
            for r in found
            if r.user_id == owner.litellm_user_id and r.metadata.get(REQUEST_ID_FIELD) == request_id
        ]
        for record in made:
            client.delete_key(record.token)
            outcome = "deleted"
    except LiteLLMError as exc:
        log.warning("key create for user %s unanswered and not settled: %s", owner_id, exc.message)
        outcome = "unknown"
    try:
        audit.record(
            TIMEOUT_ACTION,
            actor=actor,
            target_user=owner,
            detail={"alias": alias, "label": label, "request_id": request_id, "outcome": outcome},
        )
    except SQLAlchemyError as exc:
        # The answer matters more than the record; without it the key is reported, not adopted.
        db.session.rollback()
        log.error("timed-out key create of user %s not audited (%s)", owner_id, exc)
    log.info("key create for user %s timed out: %s (request %s)", owner_id, outcome, request_id)
    return UNKNOWN if outcome == "unknown" else RETRY


def record_abandoned(owner: User | None, *, request_id: str, alias: str | None, token: str | None):
    """Note that the key of ``request_id`` was made and abandoned (its cleanup failed)."""
    try:
        audit.record(
            ABANDONED_ACTION,
            actor=None,
            target_user=owner,
            detail={"request_id": request_id, "alias": alias, "token_id": token},
        )
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("abandoned key of request %s not recorded (%s)", request_id, exc)
