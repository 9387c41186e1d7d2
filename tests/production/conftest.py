"""Fixtures for the production set-up: a Redis database per test, a fresh PostgreSQL database.

Redis and PostgreSQL come from ``scripts/test`` (TEST_REDIS_URL, TEST_PG_URL). A missing one is
a failure, never a skip: these tests are the proof that several instances work together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from prod_support import allocate_redis_url, required_env


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """The Redis server started by scripts/test."""
    return required_env("TEST_REDIS_URL")


def _fresh_redis(server_url: str) -> Iterator[str]:
    url = allocate_redis_url(server_url)
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    try:
        yield url
    finally:
        conn.flushdb()
        conn.close()


@pytest.fixture
def redis_url(redis_server_url) -> Iterator[str]:
    """``redis://…/<n>``: an empty Redis database of this test's own, flushed afterwards."""
    yield from _fresh_redis(redis_server_url)


@pytest.fixture
def redis_url_other(redis_server_url) -> Iterator[str]:
    """A second Redis database, as a second deployment (or a parallel test) would use."""
    yield from _fresh_redis(redis_server_url)


@pytest.fixture(scope="module")
def module_redis_url(redis_server_url) -> Iterator[str]:
    """A Redis database shared by one module's instances."""
    yield from _fresh_redis(redis_server_url)


@pytest.fixture(scope="module")
def fresh_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards) for one module's instances."""
    server = sa.make_url(required_env("TEST_PG_URL"))
    name = f"portal_prod_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
