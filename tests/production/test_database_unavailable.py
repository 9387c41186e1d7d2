"""The database down or read-only: a clear 503 (a page, an htmx fragment, JSON for exports)
with nothing changed anywhere; /readyz names the database; /healthz answers without it.

Read-only is a SQLite file opened read-only (``mode=ro``: the tests run as root, which ignores
file permissions) and a PostgreSQL database whose transactions are read-only; down is a SQLite
file in a missing directory and a PostgreSQL port nobody listens on.
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, User

MESSAGE = "database is unavailable; nothing was changed."
HX = {"HX-Request": "true"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed_alice(app, sim) -> dict[str, int]:
    """Alice with one key whose token id is stored and one whose token id is not yet."""
    ids = {}
    with app.app_context():
        alice = User(email="alice@example.com", litellm_user_id="alice@example.com")
        db.session.add(alice)
        db.session.flush()
        for label, store in (("stored", True), ("pending", False)):
            alias = f"alice-example.com--{label}"
            token = sim.add_key(key_alias=alias, user_id="alice@example.com")["token"]
            key = ApiKey(
                user_id=alice.id,
                alias=alias,
                label=label,
                litellm_token_id=token if store else None,
            )
            db.session.add(key)
            db.session.flush()
            ids[label] = key.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


@pytest.fixture
def read_only_sqlite(build_app, sim, tmp_path):
    """(app on a SQLite file opened read-only, Alice's key ids)."""
    path = tmp_path / "portal.sqlite"
    ids = _seed_alice(build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", schema=True), sim)
    return build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///file:{path}?mode=ro&uri=true"), ids


@pytest.fixture
def read_only_postgres(build_app, sim, postgres_url):
    """(app on a PostgreSQL database whose transactions are read-only, Alice's key ids)."""
    server = sa.make_url(postgres_url)
    name = f"readonly_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        writable = build_app(SQLALCHEMY_DATABASE_URI=url)
        with writable.app_context():
            db.create_all()
        ids = _seed_alice(writable, sim)
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield build_app(SQLALCHEMY_DATABASE_URI=url), ids
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def read_only(request):
    """Each kind of read-only database: (app, Alice's key ids, expected readyz check)."""
    if request.param == "sqlite":
        app, ids = request.getfixturevalue("read_only_sqlite")
        return app, ids, "failed: read-only (OperationalError)"
    app, ids = request.getfixturevalue("read_only_postgres")
    return app, ids, "failed: read-only (InternalError)"


def _signed_in(app, email="alice@example.com"):
    client = app.test_client()
    page = client.get("/auth/sign-in").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    response = client.post("/auth/sign-in", data={"email": email, "csrf_token": token})
    return client, response


def _csrf(client) -> str:
    page = client.get("/auth/sign-in").get_data(as_text=True)
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def _assert_unavailable_page(response, *, fragment: bool) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html[:500]
    assert MESSAGE in html.replace("&#39;", "'")
    assert 'id="error-panel"' in html
    assert ("<html" in html) is not fragment
    assert "Traceback" not in html and "OperationalError" not in html


def _assert_unavailable_json(response) -> None:
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data(as_text=True)) == {
        "error": "The portal's database is unavailable; nothing was changed."
    }


# --- read-only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_read_only_database_refuses_a_new_key_before_litellm_is_asked(read_only, sim, hx):
    app, _ids, _check = read_only
    client, signed_in = _signed_in(app)  # Alice exists: signing in writes nothing
    assert signed_in.status_code == 303
    assert client.get("/keys").status_code == 200  # reading still works
    before = dict(sim.keys)
    response = client.post(
        "/keys",
        data={"csrf_token": _csrf(client), "idempotency_token": "t" * 24, "name": "new"},
        headers=HX if hx else {},
    )
    _assert_unavailable_page(response, fragment=hx)
    assert sim.count("/key/generate") == 0
    assert sim.keys == before


def test_read_only_database_refuses_a_new_user(read_only):
    app, _ids, _check = read_only
    _client, response = _signed_in(app, "newcomer@example.com")
    _assert_unavailable_page(response, fragment=False)


def test_read_only_database_still_serves_usage_exports(read_only, sim):
    """The token id that cannot be written back is used for this answer all the same."""
    app, ids, _check = read_only
    client, _ = _signed_in(app)
    for key_id in ids.values():
        response = client.get(f"/usage/export.json?key={key_id}&preset=7d")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert json.loads(response.get_data(as_text=True))["key"]


def test_readyz_says_a_read_only_database_cannot_write(read_only, sim):
    app, _ids, expected = read_only
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.get_data(as_text=True)) == {
        "status": "not ready",
        "checks": {"database": expected, "litellm": "ok"},
    }


# --- down --------------------------------------------------------------------------------------

DOWN = {
    "sqlite-missing-dir": "sqlite:////nonexistent-portal-dir/nowhere/portal.sqlite",
    "postgres-closed-port": "postgresql+psycopg://portal:pw@127.0.0.1:{port}/portal",
}


@pytest.fixture(params=sorted(DOWN))
def down(request, app, client, sign_in, make_user, build_app, make_config):
    """(test client of an app whose database is down, holding Alice's session, CSRF token)."""
    make_user("alice@example.com")
    sign_in("alice@example.com")
    token = _csrf(client)
    url = DOWN[request.param].format(port=_closed_port())
    down_client = build_app(make_config(SQLALCHEMY_DATABASE_URI=url)).test_client()
    down_client.set_cookie("session", client.get_cookie("session").value)
    return down_client, token


def test_pages_and_fragments_say_the_database_is_down(down, sim):
    client, _ = down
    _assert_unavailable_page(client.get("/keys"), fragment=False)
    _assert_unavailable_page(client.get("/usage?preset=7d", headers=HX), fragment=True)


def test_a_create_while_the_database_is_down_changes_nothing(down, sim):
    client, token = down
    response = client.post(
        "/keys", data={"csrf_token": token, "idempotency_token": "t" * 24, "name": "new"}
    )
    _assert_unavailable_page(response, fragment=False)
    assert sim.keys == {} and sim.count("/key/generate") == 0


@pytest.mark.parametrize("export", ["export.csv", "export.json"])
def test_exports_answer_json_503_while_the_database_is_down(down, sim, export):
    client, _ = down
    _assert_unavailable_json(client.get(f"/usage/{export}?preset=7d"))


def test_readyz_names_the_database_while_it_is_down(down, sim):
    client, _ = down
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = json.loads(response.get_data(as_text=True))["checks"]
    assert checks["database"] == "failed: OperationalError" and checks["litellm"] == "ok"


@pytest.mark.parametrize("auth_mode", ["dev", "header"])
def test_healthz_answers_while_database_and_litellm_are_down(
    down, make_config, build_app, auth_mode
):
    """Even for a signed-in browser or a request carrying the proxy's identity header."""
    client, _ = down
    if auth_mode == "header":
        config = make_config(
            SQLALCHEMY_DATABASE_URI=DOWN["postgres-closed-port"].format(port=_closed_port()),
            LITELLM_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
            AUTH_MODE="header",
        )
        client = build_app(config).test_client()
    else:
        client.application.config["LITELLM_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    response = client.get("/healthz", headers={"X-Forwarded-Email": "alice@example.com"})
    assert response.status_code == 200
    assert json.loads(response.get_data(as_text=True)) == {"status": "ok"}
    assert time.monotonic() - started < 0.5


def test_postgres_going_away_while_serving_answers_503_then_recovers(
    build_app, make_user, sim, postgres_url
):
    """The server drops every connection and refuses new ones (as while it restarts): pages and
    exports answer 503, /readyz names the database, and the first request after it is back
    succeeds."""
    server = sa.make_url(postgres_url)
    name = f"goes_away_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        app = build_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            db.create_all()  # dropped with the database below
        client, signed_in = _signed_in(app)
        assert signed_in.status_code == 303 and client.get("/keys").status_code == 200
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
        _assert_unavailable_page(client.get("/keys"), fragment=False)
        _assert_unavailable_page(client.get("/keys", headers=HX), fragment=True)
        _assert_unavailable_json(client.get("/usage/export.json?preset=7d"))
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert json.loads(ready.get_data(as_text=True))["checks"]["database"].startswith("failed")
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert client.get("/keys").status_code == 200
        assert client.get("/readyz").status_code == 200
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
