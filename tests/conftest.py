"""Shared fixtures: ``app``, ``client``, ``runner``, the LiteLLM simulator and small factories.

The database is SQLite in memory unless ``TEST_DATABASE_URL`` names a PostgreSQL server (set by
``scripts/test`` for its PostgreSQL pass); then every xdist worker gets a database of its own.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import create_app
from app.config import TestingConfig
from app.extensions import db
from app.litellm_sim import create_sim_app, run_in_thread
from app.models import ApiKey, User

MASTER_KEY = "sk-sim-master-0123456789"


# --- databases -------------------------------------------------------------------------------


def _worker_database_url(base_url: str, worker: str) -> str:
    """Create (once) and return a PostgreSQL database for this xdist worker."""
    url = sa.make_url(base_url)
    name = f"portal_test_{worker}"
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(worker_id: str) -> str:
    """``sqlite://`` or this worker's PostgreSQL database."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        return _worker_database_url(base, worker_id)
    return "sqlite://"


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> str:
    """A PostgreSQL server URL for tests that always need one (migrations on both databases)."""
    base = os.environ.get("TEST_PG_URL") or os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.fail(
            "TEST_PG_URL is not set: run the suite through scripts/test, which starts PostgreSQL"
        )
    return base


# --- the LiteLLM simulator -------------------------------------------------------------------


@pytest.fixture(scope="session")
def sim_server():
    """One simulator per test process, over real HTTP on 127.0.0.1."""
    sim_app = create_sim_app(master_key=MASTER_KEY, seed=None)
    server = run_in_thread(sim_app, host="127.0.0.1", port=0)
    server.sim_app = sim_app
    yield server
    server.shutdown()


@pytest.fixture
def sim(sim_server):
    """The simulator's state, emptied before each test (keys, usage rows, faults, call log)."""
    state = sim_server.sim_app.extensions["litellm_sim"]
    state.reset()
    yield state
    state.reset()


# --- the portal ------------------------------------------------------------------------------


class _TestConfig(TestingConfig):
    def __init__(self, database_url: str, litellm_url: str) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.LITELLM_BASE_URL = litellm_url
        if database_url.startswith("postgresql"):
            # Tests build many apps; without a pool each connection closes when returned, so
            # none is left for the garbage collector to find open (a ResourceWarning).
            self.SQLALCHEMY_ENGINE_OPTIONS = {"poolclass": sa.pool.NullPool}


@pytest.fixture
def make_config(database_url, sim_server):
    """Build a testing config pointed at the simulator; tests may tweak attributes."""

    def make(**overrides) -> TestingConfig:
        config = _TestConfig(database_url, sim_server.base_url)
        for name, value in overrides.items():
            setattr(config, name, value)
        return config

    return make


@pytest.fixture
def app(make_config, sim, tmp_path):
    """The portal with a fresh schema (create_all; migrations are tested on their own)."""
    config = make_config()
    application = create_app(config)
    application.instance_path = str(tmp_path / "instance")
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def build_app(make_config, tmp_path):
    """``build_app(config)`` or ``build_app(schema=True, AUTH_MODE="header", …)`` → one more app.

    For tests that need a second configuration. ``schema=True`` creates the tables (and drops them
    afterwards: on PostgreSQL they live in this worker's shared database). Every app's connections
    and LiteLLM client are closed after the test, even when the test fails.
    """
    built: list[tuple] = []

    def build(config=None, /, *, schema: bool = False, **overrides):
        application = create_app(config if config is not None else make_config(**overrides))
        application.instance_path = str(tmp_path / f"instance-{len(built)}")
        built.append((application, schema))
        if schema:
            with application.app_context():
                db.create_all()
        return application

    yield build
    for application, schema in reversed(built):
        with application.app_context():
            db.session.remove()
            if schema:
                db.drop_all()
            db.engine.dispose()
        litellm = application.extensions.get("litellm")
        if litellm is not None:
            litellm.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# Flask-WTF signs the CSRF token with the current time, so two renderings of one page a second
# apart differ there (meta tag, hidden fields, hx-headers) and nowhere else.
_CSRF_TOKEN_IN_PAGE = re.compile(
    r'(name="csrf-token" content="|name="csrf_token" value="|"X-CSRFToken": ")[^"]+'
)


@pytest.fixture
def page_text():
    """``page_text(response)`` → the body as text with every CSRF token masked, for comparing
    two responses byte for byte."""
    return lambda response: _CSRF_TOKEN_IN_PAGE.sub(r"\1~", response.get_data(as_text=True))


# --- factories -------------------------------------------------------------------------------


@pytest.fixture
def make_user(app):
    """``make_user("alice@example.com")`` → User (committed)."""

    def make(email: str, *, is_admin: bool = False) -> User:
        with app.app_context():
            user = User(
                email=email,
                litellm_user_id=email,
                display_name=email.split("@")[0],
                is_admin=is_admin,
            )
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def make_key(app, sim):
    """``make_key(user, "laptop", store_token=True, in_litellm=True)`` → ApiKey.

    Creates the key in the simulator (unless ``in_litellm=False``) with the alias the portal
    gives it (``alias_for``), and the portal row with or without ``litellm_token_id``.
    """

    def make(
        user: User,
        label: str,
        *,
        store_token: bool = True,
        in_litellm: bool = True,
        alias: str | None = None,
        revoked: bool = False,
    ) -> ApiKey:
        from app.models import utcnow
        from app.services.keys import alias_for

        alias = alias or alias_for(user, label)
        secret = "sk-" + secrets.token_urlsafe(16)
        token = hashlib.sha256(secret.encode()).hexdigest()
        if in_litellm:
            stored = sim.add_key(key_alias=alias, user_id=user.litellm_user_id, secret=secret)
            token = stored["token"]
        with app.app_context():
            key = ApiKey(
                user_id=user.id,
                alias=alias,
                label=label,
                key_prefix=f"sk-...{secret[-4:]}",
                litellm_token_id=token if store_token else None,
                revoked_at=utcnow() if revoked else None,
            )
            db.session.add(key)
            db.session.commit()
            db.session.refresh(key)
            db.session.expunge(key)
            key.token = token  # for tests: the token LiteLLM knows, even when not stored
            return key

    return make


@pytest.fixture
def sign_in(client):
    """``sign_in("alice@example.com")``: dev sign-in on the shared test client."""

    def do(email: str, test_client=None):
        test_client = test_client or client
        page = test_client.get("/auth/sign-in")
        token = _csrf_from(page.get_data(as_text=True))
        response = test_client.post(
            "/auth/sign-in", data={"email": email, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        return test_client

    return do


def _csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta"
    return match.group(1)


@pytest.fixture
def csrf_token(client) -> Iterator:
    """``csrf_token()`` → the token of the current session (fetches a page to read it)."""

    def get(test_client=None, path: str = "/keys") -> str:
        test_client = test_client or client
        return _csrf_from(test_client.get(path).get_data(as_text=True))

    return get


@pytest.fixture
def failing_key_rows():
    """Every flush that inserts an ApiKey fails like a lost database connection."""

    def refuse(session, flush_context, instances):
        if any(isinstance(obj, ApiKey) for obj in session.new):
            raise OperationalError("INSERT INTO api_keys", {}, Exception("database went away"))

    sa.event.listen(Session, "before_flush", refuse)
    yield
    sa.event.remove(Session, "before_flush", refuse)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test process (Debian's, never a downloaded one), shared by the
    browser and OpenID tests: Playwright's sync API allows one running instance per thread."""
    from playwright.sync_api import sync_playwright

    # Under scripts/test-clock-ahead the portal and the tests run with the clock moved; the
    # browser keeps the real one (libfaketime stalls Chromium's scheduler), as a person's would.
    fake_clock = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")
    env = {name: value for name, value in os.environ.items() if name not in fake_clock}
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
            env=env,
        )
        yield chromium
        chromium.close()
