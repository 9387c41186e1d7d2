"""How the simulator writes LiteLLM's values: token ids, abbreviated keys, timestamps."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def hash_token(secret: str) -> str:
    """LiteLLM's token id: sha256 hex of the raw key, no salt (``hash_token``)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_token_if_needed(value: str) -> str:
    """Only values starting with ``sk-`` are hashed; anything else is taken as the hash."""
    return hash_token(value) if value.startswith("sk-") else value


def abbreviate(secret: str) -> str:
    """``key_name`` display form: ``sk-...`` + last 4 characters."""
    return "sk-..." + secret[-4:] if len(secret) > 4 else "sk-..."


def iso(dt: datetime) -> str:
    """Serialize an aware datetime like pydantic v2 does for UTC: ISO-8601 with ``Z``.

    PostgreSQL keeps what LiteLLM stores to the millisecond, so the fraction is too.
    """
    dt = dt.astimezone(UTC)
    dt = dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    return dt.isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse an ISO datetime (``Z`` allowed); naive values are taken as UTC."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Current aware UTC time (one place to patch in tests)."""
    return datetime.now(UTC)


def as_iso(value: datetime | str | None) -> str | None:
    """A datetime or an ISO string given by a caller, in the form LiteLLM answers with."""
    if value is None:
        return None
    return iso(value) if isinstance(value, datetime) else iso(parse_iso(value))


def masked(secret: str) -> str:
    """How LiteLLM quotes a refused secret: first and last four characters only."""
    return f"{secret[:4]}****{secret[-4:]}" if len(secret) > 8 else "****"
