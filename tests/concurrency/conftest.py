"""A portal served over real HTTP by a multi-threaded server, on a database file (SQLite) or on
this worker's PostgreSQL database, talking to the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from flask import Flask
from http_portal import PortalUser

from app import create_app
from app.extensions import db
from app.litellm_sim import run_in_thread
from app.models import ApiKey, RateLimitHit


@dataclass
class ServedPortal:
    app: Flask
    base_url: str
    users: list[PortalUser] = field(default_factory=list)

    def user(self, email: str) -> PortalUser:
        """A new browser for ``email`` (not signed in yet); closed with the server."""
        user = PortalUser(self.base_url, email)
        self.users.append(user)
        return user

    def scalar(self, statement):
        """Run one statement on the served database and return its first value."""
        with self.app.app_context():
            try:
                return db.session.scalar(statement)
            finally:
                db.session.remove()

    def execute(self, statement) -> None:
        """Run one writing statement on the served database and commit it."""
        with self.app.app_context():
            try:
                db.session.execute(statement)
                db.session.commit()
            finally:
                db.session.remove()

    def key_count(self, email: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(ApiKey)
        if email is not None:
            query = query.where(ApiKey.alias.like(email.replace("@", "-") + "--%"))
        return self.scalar(query)

    def key_id(self, email: str, label: str) -> int:
        """The id of ``email``'s key ``label``."""
        from app.models import User

        return self.scalar(
            sa.select(ApiKey.id).join(User).where(User.email == email, ApiKey.label == label)
        )

    def rate_limit_hits(self) -> int:
        return self.scalar(sa.select(sa.func.count()).select_from(RateLimitHit))


@pytest.fixture
def server_database_url(database_url, tmp_path) -> str:
    """A SQLite file (the embedded default; an in-memory database has one connection), or
    this worker's PostgreSQL database on the PostgreSQL pass."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/portal.sqlite"
    return database_url


@pytest.fixture
def serve_portal(make_config, sim, server_database_url, tmp_path) -> Iterator:
    """``serve_portal(RATE_LIMIT_KEY_CREATE="10/hour", …)`` → a :class:`ServedPortal` on a
    threaded Werkzeug server (a thread per request, like ``flask run``); stopped afterwards."""
    started: list[tuple[ServedPortal, object]] = []

    def start(**overrides) -> ServedPortal:
        config = make_config(SQLALCHEMY_DATABASE_URI=server_database_url, **overrides)
        app = create_app(config)
        app.instance_path = str(tmp_path / f"instance-{len(started)}")
        with app.app_context():
            db.create_all()
        server = run_in_thread(app)
        portal = ServedPortal(app, server.base_url)
        started.append((portal, server))
        return portal

    yield start
    for portal, server in reversed(started):
        for user in portal.users:
            user.close()
        server.shutdown()
        app = portal.app
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
        litellm = app.extensions.get("litellm")
        if litellm is not None:
            litellm.close()
