"""Writing LiteLLM token ids onto api_keys rows, safely under concurrency."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ApiKey


def store_token_if_missing(key_id: int, token: str, *, commit: bool = True) -> bool:
    """Set ``litellm_token_id`` only while it is still NULL; True when this call wrote it.

    The ``WHERE litellm_token_id IS NULL`` makes the write safe while the portal serves and
    while another backfill runs: the first writer wins and nobody overwrites a stored id.
    A token already stored on another row violates the unique index: nothing is written.
    """
    statement = (
        sa.update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.litellm_token_id.is_(None))
        .values(litellm_token_id=token)
        .execution_options(synchronize_session=False)
    )
    try:
        if commit:
            result = db.session.execute(statement)
            db.session.commit()
        else:
            with db.session.begin_nested():
                result = db.session.execute(statement)
    except IntegrityError:
        if commit:
            db.session.rollback()
        return False
    return result.rowcount == 1
