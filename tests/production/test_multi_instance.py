"""Two gunicorn instances (scripts/serve) behind no balancer, sharing one PostgreSQL database
and one Redis cache, with the LiteLLM simulator in this process: what one instance learns, the
other uses; a backfill running while both serve loses nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import sqlalchemy as sa
from prod_support import (
    MASTER_KEY,
    ROOT,
    Instance,
    flask_cli,
    production_env,
    start_instance,
)
from sqlalchemy.orm import Session

from app.models import ApiKey, User

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

AGGREGATED = "/user/daily/activity/aggregated"


@dataclass
class Cluster:
    a: Instance
    b: Instance
    env: dict[str, str]
    engine: sa.Engine


@pytest.fixture(scope="module")
def cluster(fresh_pg_url, module_redis_url, sim_server, tmp_path_factory) -> Iterator[Cluster]:
    """A fresh database migrated with ``flask db upgrade``, then instances A and B."""
    env = production_env(
        DATABASE_URL=fresh_pg_url,
        LITELLM_BASE_URL=sim_server.base_url,
        HTTP_CACHE_URL=module_redis_url,
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        LOG_LEVEL="INFO",
    )
    upgrade = flask_cli(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    logs = tmp_path_factory.mktemp("instances")
    a = start_instance("instance-a", env, logs)
    b = start_instance("instance-b", env, logs)
    engine = sa.create_engine(fresh_pg_url, poolclass=sa.NullPool)
    try:
        a.wait_ready()
        b.wait_ready()
        yield Cluster(a, b, env, engine)
    finally:
        a.stop()
        b.stop()
        engine.dispose()


def _as(email: str) -> dict[str, str]:
    return {"X-Forwarded-Email": email}


def _seed_user(cluster: Cluster, sim, email: str, labels: list[str], ghosts: list[str] = ()):
    """A user whose keys have no stored token id (made before the portal stored them).

    ``labels`` exist in LiteLLM; ``ghosts`` do not (deleted there long ago).
    Returns {label: (key id, LiteLLM token or None)}.
    """
    today = dt.datetime.now(dt.UTC).date()
    out: dict[str, tuple[int, str | None]] = {}
    with Session(cluster.engine) as session:
        user = User(email=email, litellm_user_id=email, display_name=email.split("@")[0])
        session.add(user)
        session.flush()
        for label in [*labels, *ghosts]:
            alias = f"{email}--{label}"
            token = None
            if label in labels:
                token = sim.add_key(key_alias=alias, user_id=email)["token"]
                sim.add_usage(
                    token=token,
                    date=today,
                    model="gpt-4o",
                    provider="openai",
                    prompt_tokens=10,
                    completion_tokens=5,
                    spend=0.5,
                )
            key = ApiKey(user_id=user.id, alias=alias, label=label, litellm_token_id=None)
            session.add(key)
            session.flush()
            out[label] = (key.id, token)
        session.commit()
    return out


def _stored_tokens(cluster: Cluster, key_ids) -> dict[int, str | None]:
    with cluster.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ApiKey.id, ApiKey.litellm_token_id).where(ApiKey.id.in_(list(key_ids)))
        )
        return dict(rows.all())


def test_token_lookup_and_usage_are_shared_between_instances(cluster, sim):
    keys = _seed_user(cluster, sim, "carol@example.com", ["laptop"], ghosts=["old"])
    laptop_id, laptop_token = keys["laptop"]
    ghost_id, _ = keys["old"]
    me = _as("carol@example.com")

    first = requests.get(f"{cluster.a.base_url}/usage?key={laptop_id}", headers=me, timeout=30)
    assert first.status_code == 200, first.text
    assert sim.count("/key/list") == 1
    assert sim.count(AGGREGATED) == 1
    assert _stored_tokens(cluster, [laptop_id]) == {laptop_id: laptop_token}

    # B: the token is in the shared database, the usage answer in the shared cache.
    for _ in range(3):  # several requests, so both of B's workers are likely asked
        again = requests.get(f"{cluster.b.base_url}/usage?key={laptop_id}", headers=me, timeout=30)
        assert again.status_code == 200
    assert sim.count("/key/list") == 1
    assert sim.count(AGGREGATED) == 1

    # A key LiteLLM does not know needs the key list on every view: B and A both get it from
    # the Redis entry A stored, not from LiteLLM.
    for base in (cluster.b.base_url, cluster.a.base_url, cluster.b.base_url):
        ghost = requests.get(f"{base}/usage?key={ghost_id}", headers=me, timeout=30)
        assert ghost.status_code == 200
    assert sim.count("/key/list") == 1
    assert _stored_tokens(cluster, [ghost_id]) == {ghost_id: None}

    # The all-keys view: fetched once (by B), then served from the cache to A.
    assert requests.get(f"{cluster.b.base_url}/usage", headers=me, timeout=30).status_code == 200
    assert requests.get(f"{cluster.a.base_url}/usage", headers=me, timeout=30).status_code == 200
    assert sim.count(AGGREGATED) == 2


def _csrf_and_cookie(response: requests.Response) -> tuple[str, str, str]:
    html = response.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    token = re.search(r'name="idempotency_token" value="([^"]+)"', html).group(1)
    # The session cookie is Secure (production) and this is plain HTTP on loopback, so it is
    # carried by hand exactly as the browser behind the TLS-terminating balancer would.
    cookie = re.search(r"(session=[^;]+)", response.headers["Set-Cookie"]).group(1)
    return csrf, token, cookie


def test_key_created_through_a_shows_through_b(cluster, sim):
    me = _as("dave@example.com")
    page = requests.get(f"{cluster.a.base_url}/keys", headers=me, timeout=30)
    assert page.status_code == 200
    csrf, idem, cookie = _csrf_and_cookie(page)
    created = requests.post(
        f"{cluster.a.base_url}/keys",
        headers={**me, "Cookie": cookie},
        data={"name": "desk", "idempotency_token": idem, "csrf_token": csrf},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    (secret,) = set(re.findall(r"sk-[A-Za-z0-9_-]{20,}", created.text))
    assert sim.find_key(secret) is not None

    listed = requests.get(f"{cluster.b.base_url}/keys", headers=me, timeout=30)
    assert listed.status_code == 200
    assert "dave@example.com--desk" in listed.text or ">desk<" in listed.text
    assert secret not in listed.text
    # The other user sees nothing of it through either instance.
    other = requests.get(f"{cluster.b.base_url}/keys", headers=_as("erin@example.com"), timeout=30)
    assert "desk" not in other.text

    # Neither instance logged the secret or the master key; their request lines are JSON.
    for instance in (cluster.a, cluster.b):
        text = instance.log_text()
        assert secret not in text and MASTER_KEY not in text
        lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
        requests_ = [x for x in lines if x.get("logger") == "app.request"]
        assert requests_, f"{instance.name} wrote no request lines"
        for line in requests_:
            assert {"method", "path", "status", "duration_ms", "user_id"} <= set(line)
    a_lines = [json.loads(x) for x in cluster.a.log_text().splitlines() if x.startswith("{")]
    assert any(
        x.get("logger") == "app.litellm" and x["route"] == "/key/generate" and not x["cache_hit"]
        for x in a_lines
    )


def test_backfill_while_both_instances_serve_loses_nothing(cluster, sim):
    with cluster.engine.connect() as conn:  # left by earlier tests, unknown to LiteLLM now
        earlier = set(conn.scalars(sa.select(ApiKey.id).where(ApiKey.litellm_token_id.is_(None))))
    users = {}
    for n in range(12):
        email = f"user{n}@example.com"
        users[email] = _seed_user(
            cluster, sim, email, ["a", "b", "c", "d"], ghosts=["gone"] if n % 3 == 0 else []
        )
    targets = [(email, key_id) for email, keys in users.items() for key_id, _ in keys.values()]
    done = threading.Event()
    statuses: Counter[int] = Counter()
    finished_at: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def hammer(worker: int) -> None:
        session = requests.Session()
        for i in range(150):  # bounded even if the backfill hangs
            if done.is_set() and i >= 10:
                break
            email, key_id = targets[(worker * 13 + i * 5) % len(targets)]
            base = (cluster.a, cluster.b)[(worker + i) % 2].base_url
            path = f"/usage?key={key_id}" if i % 4 else "/usage"
            try:
                response = session.get(base + path, headers=_as(email), timeout=30)
            except requests.RequestException as exc:
                with lock:
                    failures.append(f"{path}: {exc}")
                continue
            with lock:
                statuses[response.status_code] += 1
                finished_at.append(time.monotonic())

    # LiteLLM answers slowly, so views and the backfill's sweep are in flight together and race
    # for the same NULL rows. The backfill's global sweep is the only /key/list call without
    # user_id (views always pass one), which dates its start.
    sim.set_latency(150)
    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    backfill = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "backfill-tokens", "--json"],
        cwd=ROOT,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for thread in threads:
            thread.start()
        out, err = backfill.communicate(timeout=120)
        backfill_ended = time.monotonic()
    finally:
        if backfill.poll() is None:
            backfill.kill()
            backfill.communicate(timeout=10)
        done.set()
        for thread in threads:
            thread.join(timeout=120)
        sim.set_latency(0)
    assert not any(t.is_alive() for t in threads)
    assert out.strip(), err
    sweeps = [c for c in sim.calls if c[1] == "/key/list" and "user_id" not in c[2]]
    assert sweeps, "backfill-tokens never swept /key/list"
    view_lookups = [c for c in sim.calls if c[1] == "/key/list" and "user_id" in c[2]]
    assert view_lookups, "the views resolved no token themselves"
    assert any(t < backfill_ended for t in finished_at), "no view finished during the backfill"

    assert not failures, failures
    assert statuses and set(statuses) == {200}, statuses
    assert sum(statuses.values()) >= 40
    # Exit 1: the ghosts are reported as not found; nothing else is left.
    assert backfill.returncode == 1, err
    report = json.loads(out)
    ghosts = {keys["gone"][0] for keys in users.values() if "gone" in keys}
    unresolved = {r["key_id"] for r in report["results"] if r["outcome"] == "not_found"}
    assert unresolved == ghosts | earlier

    stored = _stored_tokens(cluster, [key_id for _, key_id in targets])
    for keys in users.values():
        for key_id, token in keys.values():
            assert stored[key_id] == token  # resolvable → its exact token; ghost → still NULL
