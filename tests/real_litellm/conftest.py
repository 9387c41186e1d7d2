"""Fixtures for the tests against a real LiteLLM proxy (``scripts/real-litellm``).

``scripts/test`` starts the proxies and exports where they are (see ``real_proxy.py``). Every test
in this folder is marked ``real_litellm``. ``real_proxy`` is the current release; a test marked
``each_real_proxy`` runs once per proxy (also 1.75.0, which has only the paginated daily-activity
endpoint). A missing proxy fails the test in CI (``CI=true``) and skips it elsewhere, saying how
to start one.

Tests run in parallel (pytest-xdist) against one shared proxy, so each uses its own user ids and
key aliases (``unique_name``) and never assumes the proxy is empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from proxy_support import PROXY_SLOTS, RealProxy

HERE = Path(__file__).resolve().parent


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
