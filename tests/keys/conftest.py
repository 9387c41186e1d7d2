"""Fixtures for the key lifecycle tests: a signed-in client and form helpers."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey

SECRET_RE = re.compile(r'id="new-key-secret"[^>]*>([^<]+)<')
IDEMPOTENCY_RE = re.compile(r'name="idempotency_token" value="([^"]+)"')
HX = {"HX-Request": "true"}


@pytest.fixture
def alice(client, sign_in, make_user):
    """Alice, signed in on ``client``."""
    user = make_user("alice@example.com")
    sign_in("alice@example.com")
    return user


@pytest.fixture
def create_form(client, csrf_token):
    """``create_form(name="laptop", ...)`` → form data with a fresh idempotency token."""

    def build(**fields) -> dict[str, str]:
        page = client.get("/keys").get_data(as_text=True)
        match = IDEMPOTENCY_RE.search(page)
        assert match, "create form has no idempotency_token"
        data = {"csrf_token": csrf_token(), "idempotency_token": match.group(1), "name": "laptop"}
        data.update({k: str(v) for k, v in fields.items()})
        return data

    return build


@pytest.fixture
def secret_in():
    """``secret_in(response)`` → the secret shown in ``#new-key-secret`` (or None)."""

    def find(response) -> str | None:
        match = SECRET_RE.search(response.get_data(as_text=True))
        return match.group(1).strip() if match else None

    return find


@pytest.fixture
def rows(app):
    """``rows()`` → every api_keys row (detached, fresh from the database)."""

    def load() -> list[ApiKey]:
        with app.app_context():
            found = list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)))
            for row in found:
                db.session.expunge(row)
            return found

    return load


@pytest.fixture
def db_dump(app):
    """``db_dump()`` → every row of every table as text, to search for secrets."""

    def dump() -> str:
        with app.app_context():
            parts = []
            for table in db.metadata.sorted_tables:
                for row in db.session.execute(sa.select(table)):
                    parts.append(f"{table.name}: {tuple(row)!r}")
            return "\n".join(parts)

    return dump
