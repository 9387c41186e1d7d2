"""A real OpenID provider (tests/oidc/provider: panva's oidc-provider on node) and the portal in
``AUTH_MODE=oidc`` served over real HTTP, so Authlib talks to the provider as in production.

The provider runs once per test process on a free loopback port and stops with it (SIGTERM, and
it exits by itself when its stdin closes). scripts/test runs ``npm ci`` there when needed.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from oidc_helpers import ADMIN_GROUP, CLIENT_SECRET
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db

PROVIDER_DIR = Path(__file__).parent / "provider"


@dataclass
class Portal:
    app: object
    url: str


@pytest.fixture(scope="session")
def oidc_issuer(tmp_path_factory) -> Iterator[str]:
    """The issuer URL of a running oidc-provider (the same for the whole test process)."""
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"the test OpenID provider is not installed: run `npm ci` in {PROVIDER_DIR}")
    log_path = tmp_path_factory.mktemp("oidc-provider") / "provider.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            ["node", "server.mjs"],
            cwd=PROVIDER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env={**os.environ, "NODE_ENV": "test"},
        )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        if not line:
            pytest.fail(f"the OpenID provider did not start in 30 s: {log_path.read_text()}")

        yield json.loads(line)["issuer"]
    finally:
        process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()


def oidc_settings(issuer: str, **overrides) -> dict:
    settings = {
        "AUTH_MODE": "oidc",
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": "portal",
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_SCOPES": "openid email profile groups",
        "OIDC_ADMIN_GROUPS": (ADMIN_GROUP,),
        "ADMIN_EMAILS": (),
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def oidc_portal(make_config, sim, tmp_path, database_url, oidc_issuer):
    """``oidc_portal(**settings)`` → a Portal in AUTH_MODE=oidc over real HTTP on 127.0.0.1."""
    started: list[tuple] = []

    def start(**overrides) -> Portal:
        db_url = database_url
        if db_url == "sqlite://":  # threads must share it: a file, not memory
            db_url = f"sqlite:///{tmp_path / f'portal-{len(started)}.db'}"
        config = make_config(
            SQLALCHEMY_DATABASE_URI=db_url, **oidc_settings(oidc_issuer, **overrides)
        )
        application = create_app(config)
        application.instance_path = str(tmp_path / f"instance-{len(started)}")
        with application.app_context():
            db.create_all()
        server = make_server("127.0.0.1", 0, application, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True, name="portal")
        thread.start()
        started.append((application, server, thread))
        return Portal(application, f"http://127.0.0.1:{server.server_port}")

    yield start
    for application, server, thread in reversed(started):
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with application.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
