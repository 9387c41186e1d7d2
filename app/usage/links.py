"""Links from a usage page to itself, built cheaply.

A usage page links to its own view some 30 times (sort headers, metric and layout switches,
refresh, retry), and ``url_for`` for each of them was a fifth of the CPU of a warm view. The
endpoints have no path parameters, so the path is built once per request by ``url_for`` and the
query string here, encoded exactly as ``url_for`` encodes it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import g, url_for

# What werkzeug leaves unescaped in the query strings url_for builds.
_QUERY_SAFE = "!$'()*,/:;?@"


def query_url(endpoint: str, **params: object) -> str:
    """``url_for(endpoint, **params)`` for an endpoint without path parameters."""
    bases = g.setdefault("_usage_link_bases", {})
    base = bases.get(endpoint)
    if base is None:
        base = bases[endpoint] = url_for(endpoint)
    items = [(name, value) for name, value in params.items() if value is not None]
    return f"{base}?{urlencode(items, safe=_QUERY_SAFE)}" if items else base
