"""A key's token lineage: every token id it has had, so its usage stays whole across rotations.

LiteLLM files usage under a token id (the sha256 of the secret). A rotation gives a key a new
secret and so a new token id; the portal keeps the old ids in ``api_key_tokens`` and counts the
usage of all of them as the key's. A token id belongs to one portal key, ever (a unique column,
and :func:`add_token` refuses a token known for another key), so usage can never move between
keys. ``api_keys.litellm_token_id`` always holds the current token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import ApiKey, ApiKeyToken, utcnow

# A rotation claims the current token before it asks LiteLLM; a claim older than this belongs
# to a rotation that died half-way and no longer blocks anything.
CLAIM_TIMEOUT = dt.timedelta(minutes=10)


class TokenTaken(Exception):
    """The token id is already in the lineage of another portal key."""

    def __init__(self, token: str, holder_key_id: int) -> None:
        super().__init__(f"token {token[:8]}… already belongs to key #{holder_key_id}")
        self.holder_key_id = holder_key_id


@dataclass(frozen=True)
class Rotation:
    """A day on which a key got a new token (a mark on the usage chart)."""

    key_id: int
    label: str
    day: dt.date
    source: str


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def add_token(
    session: Session,
    key_id: int,
    token: str,
    source: str,
    *,
    at: dt.datetime | None = None,
) -> ApiKeyToken:
    """Add ``token`` to key ``key_id``'s lineage inside the caller's transaction.

    Already there for this key: the existing row. Known for another key: :class:`TokenTaken`
    (nothing written).
    """
    existing = session.scalar(sa.select(ApiKeyToken).where(ApiKeyToken.token_id == token))
    if existing is not None:
        if existing.api_key_id != key_id:
            raise TokenTaken(token, existing.api_key_id)
        return existing
    row = ApiKeyToken(
        api_key_id=key_id, token_id=token, source=source, became_current_at=at or utcnow()
    )
    session.add(row)
    session.flush()
    return row


def current_row(session: Session, key: ApiKey) -> ApiKeyToken | None:
    """The lineage row of the key's current token; written ('backfill') when a key predates
    the lineage. None while the key has no token id."""
    if key.litellm_token_id is None:
        return None
    row = session.scalar(
        sa.select(ApiKeyToken).where(
            ApiKeyToken.token_id == key.litellm_token_id, ApiKeyToken.api_key_id == key.id
        )
    )
    if row is None:
        row = add_token(session, key.id, key.litellm_token_id, "backfill", at=key.created_at)
    return row


@dataclass(frozen=True)
class Lineage:
    """Every token id some keys have had, from one read of ``api_key_tokens``: the tokens
    their usage is counted under, and the days they got a new one."""

    key_by_token: dict[str, int]  # token id → portal key id, current tokens included
    changes: tuple[tuple[dt.datetime, int, str], ...]  # (became current, key id, source)
    labels: dict[int, str]

    def rotations(self, start: dt.date, end: dt.date) -> list[Rotation]:
        """Rotations (portal and external) whose UTC day lies in ``start..end``, oldest first."""
        out = []
        for at, key_id, source in self.changes:
            day = as_utc(at).date()
            if start <= day <= end:
                out.append(Rotation(key_id, self.labels[key_id], day, source))
        return out


_ROTATION_SOURCES = frozenset({"rotated", "external"})


def read_lineage(keys: Iterable) -> Lineage:
    """The lineage of ``keys`` (ApiKeys, or rows with ``id``, ``label`` and
    ``litellm_token_id``). One query, whatever the number of keys; none without keys."""
    keys = list(keys)
    found = {k.litellm_token_id: k.id for k in keys if k.litellm_token_id}
    changes = []
    if keys:
        statement = sa.select(
            ApiKeyToken.token_id,
            ApiKeyToken.api_key_id,
            ApiKeyToken.became_current_at,
            ApiKeyToken.source,
        ).order_by(ApiKeyToken.became_current_at)
        for token, key_id, at, source in _of_keys(statement, [k.id for k in keys]):
            found[token] = key_id
            if source in _ROTATION_SOURCES:
                changes.append((at, key_id, source))
    return Lineage(found, tuple(changes), {k.id: k.label for k in keys})


def key_by_token(keys: Iterable[ApiKey]) -> dict[str, int]:
    """Token id → portal key id for every token the ``keys`` have had (current ones included);
    the usage reports count exactly these tokens."""
    return read_lineage(keys).key_by_token


# Above this many keys (an organisation's), reading every lineage row and keeping the wanted
# ones costs less than a statement with thousands of bound parameters.
_MANY_KEYS = 500


def _of_keys(statement: sa.Select, ids: list[int]) -> list[sa.Row]:
    """The rows of ``statement`` (its second column an ``api_key_id``) for the keys ``ids``."""
    if len(ids) <= _MANY_KEYS:
        return list(db.session.execute(statement.where(ApiKeyToken.api_key_id.in_(ids))))
    wanted = set(ids)
    return [row for row in db.session.execute(statement) if row[1] in wanted]


def rotation_in_progress(row: ApiKeyToken | None, now: dt.datetime | None = None) -> bool:
    """Whether a rotation has claimed this current token and not finished (nor died)."""
    if row is None or row.retired_at is None or row.delete_after is not None:
        return False
    return (now or utcnow()) - as_utc(row.retired_at) < CLAIM_TIMEOUT
