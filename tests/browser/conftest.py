"""Browser fixtures: the portal served over real HTTP, Chromium driven by Playwright, axe-core.

The portal runs in a background thread (werkzeug, threaded) on 127.0.0.1 with a SQLite *file*
(an in-memory database is per connection, so threads would not share it), pointed at the
LiteLLM simulator of ``tests/conftest.py``. Each xdist worker has its own servers on port 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import BrowserContext, Page
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db

VIEWPORT = {"width": 1280, "height": 900}


@dataclass
class Portal:
    """A running portal: its Flask app (for seeding) and its base URL."""

    app: object
    url: str


@pytest.fixture
def portal(make_config, sim, tmp_path) -> Iterator[Portal]:
    """The portal over real HTTP, with a fresh SQLite file and an empty HTTP cache."""
    config = make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'portal.db'}")
    application = create_app(config)
    application.instance_path = str(tmp_path / "instance")
    with application.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="portal")
    thread.start()
    yield Portal(application, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


class PageProblems(list):
    """Script errors and CSP refusals seen by a page (each a string)."""


@pytest.fixture
def context(browser, portal) -> Iterator[BrowserContext]:
    """A light-mode 1280×900 context on the portal, clipboard allowed, times in UTC."""
    ctx = browser.new_context(
        base_url=portal.url,
        viewport=VIEWPORT,
        color_scheme="light",
        reduced_motion="reduce",
        locale="en-GB",
        timezone_id="UTC",
        accept_downloads=True,
    )
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.url)
    ctx.set_default_timeout(8000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context) -> Iterator[Page]:
    """A page that records script errors and CSP violations; the test fails on any."""
    new_page = context.new_page()
    problems = PageProblems()
    new_page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    new_page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield new_page
    assert not problems, problems
