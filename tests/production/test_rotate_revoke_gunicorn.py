"""The rotate/revoke race over real HTTP against gunicorn (two workers, four threads each, the
production set-up behind a sign-in proxy), on a SQLite file and on PostgreSQL: the owner rotates
while an admin revokes, round after round. Revoke always wins: LiteLLM never keeps a live secret
of a key the portal shows revoked."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
from prod_support import flask_cli, production_env, start_instance

from app.models import ApiKey, User

pytestmark = [pytest.mark.slow]

ROUNDS = 10
OWNER, ADMIN = "owen@example.com", "ada@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, sim_server, tmp_path) -> Iterator[tuple[str, sa.Engine]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    else:
        url = request.getfixturevalue("fresh_pg_url")
    env = production_env(
        DATABASE_URL=url,
        LITELLM_BASE_URL=sim_server.base_url,
        HTTP_CACHE_URL="memory",
        ADMIN_EMAILS=ADMIN,
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        RATE_LIMIT_KEY_CREATE="1000/hour",
        RATE_LIMIT_KEY_ROTATE="1000/hour",
    )
    upgrade = flask_cli(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    instance = start_instance(f"race-{request.param}", env, tmp_path)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        instance.wait_ready()
        yield instance.base_url, engine
    finally:
        instance.stop()
        engine.dispose()


class Browser:
    """One person behind the sign-in proxy; the Secure session cookie is carried by hand."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url, self.email, self.cookie = base_url, email, ""

    def get(self, path: str) -> requests.Response:
        headers = {"X-Forwarded-Email": self.email, "Cookie": self.cookie}
        response = requests.get(self.base_url + path, headers=headers, timeout=60)
        found = re.search(r"(session=[^;]+)", response.headers.get("Set-Cookie", ""))
        self.cookie = found.group(1) if found else self.cookie
        return response

    def post(self, path: str, data: dict[str, str], csrf: str) -> requests.Response:
        headers = {"X-Forwarded-Email": self.email, "Cookie": self.cookie}
        return requests.post(
            self.base_url + path, data={**data, "csrf_token": csrf}, headers=headers,
            timeout=60, allow_redirects=False,
        )  # fmt: skip


def _field(text: str, pattern: str) -> str:
    return re.search(pattern, text).group(1)


def _at_once(*actions):
    barrier = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def run(i, action):
        barrier.wait(timeout=30)
        results[i] = action()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_an_admin_revoking_while_the_owner_rotates_always_wins(served, sim):
    base_url, engine = served
    owner, admin = Browser(base_url, OWNER), Browser(base_url, ADMIN)
    keys_page = owner.get("/keys").text
    admin_csrf = _field(admin.get("/admin/usage").text, r'name="csrf-token" content="([^"]+)"')
    with engine.connect() as conn:
        owner_id = conn.scalar(sa.select(User.id).where(User.email == OWNER))
    for round_ in range(ROUNDS):
        page = owner.get("/keys").text
        created = owner.post(
            "/keys",
            {"name": f"race{round_}",
             "idempotency_token": _field(page, r'name="idempotency_token" value="([^"]+)"')},
            _field(keys_page, r'name="csrf-token" content="([^"]+)"'),
        )  # fmt: skip
        assert created.status_code == 201, created.text[:300]
        with engine.connect() as conn:
            key_id = conn.scalar(sa.select(ApiKey.id).where(ApiKey.label == f"race{round_}"))
        confirm = owner.get(f"/keys/{key_id}/rotate").text
        form = {
            "grace": "24h",
            "rotation_mark": _field(confirm, r'name="rotation_mark" value="([^"]*)"'),
        }
        csrf = _field(confirm, r'name="csrf_token" value="([^"]+)"')
        sim.clear_faults()
        sim.set_latency(15)
        sim.set_hang("/key/delete", (round_ % 4) * 0.02)  # the revoke before, during, after

        rotated, revoked = _at_once(
            lambda k=key_id, f=form, c=csrf: owner.post(f"/keys/{k}/rotate", f, c),
            lambda k=key_id: admin.post(f"/admin/users/{owner_id}/keys/{k}/revoke", {}, admin_csrf),
        )

        assert revoked.status_code == 303, revoked.text[:300]
        with engine.connect() as conn:
            assert conn.scalar(sa.select(ApiKey.revoked_at).where(ApiKey.id == key_id))
        with sim.lock:
            live = [r["token"] for r in sim.keys.values() if r["user_id"] == OWNER]
        assert live == [], (round_, rotated.status_code, rotated.text[:200])
    sim.clear_faults()
