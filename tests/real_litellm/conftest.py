"""Fixtures for the tests against a real LiteLLM proxy (``scripts/real-litellm``).

``scripts/test`` starts the proxies and exports where they are (see ``proxy_support.py``).
Every test in this folder is marked ``real_litellm``. ``real_proxy`` is the current release; a
test marked ``each_real_proxy`` runs once per proxy (also 1.75.0, which has only the paginated
daily-activity endpoint). A missing proxy fails the test in CI (``CI=true``) and skips it
elsewhere, saying how to start one.

Tests run in parallel (pytest-xdist) against one shared proxy, so each uses its own user ids and
key aliases (``unique_name``) and never assumes the proxy is empty.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
# The production tests' helpers start portal instances with scripts/serve; reuse them.
sys.path.insert(0, str(HERE.parent / "production"))

from portal_support import Portal  # noqa: E402
from prod_support import production_env, start_instance  # noqa: E402
from proxy_support import PROXY_SLOTS, RealProxy  # noqa: E402


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.real_litellm)


def pytest_generate_tests(metafunc):
    if "real_proxy" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "each_real_proxy"
    ):
        metafunc.parametrize("real_proxy", list(PROXY_SLOTS), indirect=True)


@pytest.fixture(scope="session")
def real_proxy(request) -> RealProxy:
    """The proxy of this test: ``current`` unless parametrized (``each_real_proxy``)."""
    name = getattr(request, "param", "current")
    proxy = RealProxy.from_env(name)
    if proxy is None:
        prefix, how = PROXY_SLOTS[name]
        message = (
            f"no real LiteLLM proxy ({name}): {prefix}_URL and {prefix}_MASTER_KEY are not set. "
            f"scripts/test starts one; by hand: `{how}`, then `set -a; source <the env file it "
            "names>; set +a`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return proxy


@pytest.fixture(scope="session")
def portal(real_proxy, tmp_path_factory) -> Iterator[Portal]:
    """A portal instance (gunicorn, production mode, SQLite file) in front of ``real_proxy``,
    one per proxy and test process. Its LiteLLM answers are never reused from the cache, so a
    poll sees LiteLLM's latest numbers."""
    folder = tmp_path_factory.mktemp(f"portal-{real_proxy.name}")
    database = f"sqlite:///{folder / 'portal.sqlite'}"
    env = production_env(
        DATABASE_URL=database,
        LITELLM_BASE_URL=real_proxy.base_url,
        LITELLM_MASTER_KEY=real_proxy.master_key,
        HTTP_CACHE_URL="memory",
        LITELLM_KEY_LIST_TTL="0",
        LITELLM_USAGE_TTL="0",
        LITELLM_USAGE_TODAY_TTL="0",
        RATE_LIMIT_KEY_CREATE="1000/hour",
        RATE_LIMIT_KEY_ROTATE="1000/hour",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="4",
    )
    instance = start_instance(f"portal-{real_proxy.name}", env, folder)
    engine = sa.create_engine(database, poolclass=sa.NullPool)
    try:
        instance.wait_ready()
        yield Portal(instance, env, engine)
    finally:
        instance.stop()
        engine.dispose()
