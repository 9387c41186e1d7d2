"""The usage pages' links to themselves are exactly what url_for would build, only cheaper."""

from __future__ import annotations

import pytest
from flask import url_for

from app.usage.links import query_url


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"key": "all", "preset": "7d"},
        {"key": "12", "preset": "custom", "start_date": "2026-11-01", "end_date": "2026-11-30"},
        {"compare": "3,5,8", "sort": "-spend", "metric": "tokens", "refresh": 1},
        {"user": "o'brien+team@example.com", "q": "déjà vu & more/?#", "page": None},
    ],
)
@pytest.mark.parametrize("endpoint", ["usage.index", "admin.usage", "usage.export_csv"])
def test_query_url_equals_url_for(app, params, endpoint):
    with app.test_request_context("/usage", base_url="http://portal.example/prefix"):
        assert query_url(endpoint, **params) == url_for(endpoint, **params)
        assert query_url(endpoint, **params) == url_for(endpoint, **params)  # from the memo
