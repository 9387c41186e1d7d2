"""Short write transactions that take the write lock up front, on every path that writes.

A request's session starts reading early (the signed-in user is loaded before the view runs). On
SQLite, a transaction that read first and then writes must upgrade its lock; when another
connection wrote in between, SQLite answers "database is locked" at once instead of waiting.
:func:`write_transaction` therefore ends whatever the session had open and begins a transaction
of its own with ``BEGIN IMMEDIATE`` (see :mod:`app.sqlite`), so concurrent writers queue on the
busy timeout. PostgreSQL ignores the option; there, row locks order writers (``lock_user``).

Keep these blocks short: never call LiteLLM inside one, or one slow upstream call would hold the
write lock and serialise every other writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.sqlite import BEGIN_IMMEDIATE


@contextmanager
def write_transaction() -> Iterator[Session]:
    """Run the block in one fresh write transaction: committed at the end, rolled back on error.

    The transaction the session had open is committed first (it normally only read). Objects
    loaded before are expired by that commit and reload, inside this transaction, when touched.
    """
    session = db.session()
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={BEGIN_IMMEDIATE: True})
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()


def lock_user(session: Session, user_id: int) -> None:
    """Hold ``user_id``'s row until the transaction ends, so that user's writes take turns.

    ``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has no row locks (and needs none: inside
    :func:`write_transaction` it already holds the database's write lock).
    """
    from app.models import User

    session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())


def lock_key(session: Session, key_id: int) -> None:
    """Hold ``key_id``'s ``api_keys`` row until the transaction ends, so a revoke and a
    rotation's record of the same key take turns (see :func:`lock_user`)."""
    from app.models import ApiKey

    session.execute(sa.select(ApiKey.id).where(ApiKey.id == key_id).with_for_update())
