"""Fixtures shared by the LiteLLM client's unit tests: a client on an in-memory cache, and a
``responses`` mock that fails the test when an expected LiteLLM call never happens."""

from __future__ import annotations

import pytest
import responses
from client_support import make_client


@pytest.fixture
def client():
    c = make_client()
    yield c
    c.close()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
