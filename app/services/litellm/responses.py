"""What the transport makes of an HTTP answer: decoded JSON, or the matching LiteLLMError.

Kept apart from :mod:`.transport` so the request loop there reads as control flow (send, fall
back, count, log) while the rules for *interpreting* LiteLLM's answers — HTML error pages from a
load balancer, truncated JSON, which status means which exception (CONTRACT §7), how a
connection failure is worded — live in one place that is easy to test and to change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import requests

from .errors import (
    LiteLLMAuthError,
    LiteLLMBadResponse,
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMRejected,
    LiteLLMServerError,
    LiteLLMUnavailable,
    extract_message,
)

__all__ = ["aware_utc", "connection_reason", "decode_json", "error_for", "is_html", "is_outage"]


def aware_utc(value: Any) -> dt.datetime:
    """A cache entry's ``created_at`` as an aware UTC datetime (now, when it has none).

    requests-cache stores naive UTC datetimes; the views compare them with aware ones.
    """
    if not isinstance(value, dt.datetime):
        return dt.datetime.now(dt.UTC)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def is_html(response: requests.Response) -> bool:
    """Whether the answer is an HTML page (a proxy's or load balancer's, not LiteLLM's JSON)."""
    ctype = response.headers.get("Content-Type", "").lower()
    if "html" in ctype:
        return True
    head = (response.text or "")[:100].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


def decode_json(response: requests.Response, path: str) -> Any:
    """Parse a 2xx JSON body or raise LiteLLMBadResponse (a 200 is not proof of LiteLLM)."""
    status = response.status_code
    if is_html(response):
        raise LiteLLMBadResponse(
            "LiteLLM answered with an HTML page instead of JSON (is LITELLM_BASE_URL the proxy?)",
            status=status,
            route=path,
        )
    try:
        return response.json()
    except ValueError:
        size = len(response.content or b"")
        raise LiteLLMBadResponse(
            f"LiteLLM answered with invalid or truncated JSON ({size} bytes)",
            status=status,
            route=path,
        ) from None


def error_for(response: requests.Response, path: str, scrub: Callable[[str], str]) -> LiteLLMError:
    """Map a non-2xx answer to an exception. Branches on status only (CONTRACT §7): LiteLLM's
    error bodies change between versions, its status codes do not. ``scrub`` removes secrets
    from the message, which LiteLLM sometimes echoes back."""
    status = response.status_code
    fallback = f"HTTP {status} {response.reason or ''}".strip()
    if is_html(response):
        message = f"{fallback} (HTML page, not LiteLLM JSON)"
    else:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        message = extract_message(body, fallback)
    message = scrub(message)
    if status in (401, 403):
        cls: type[LiteLLMError] = LiteLLMAuthError
    elif status == 404:
        cls = LiteLLMNotFound
    elif status in (400, 409, 422):
        cls = LiteLLMRejected
    elif status in (429, 502, 503, 504):
        cls = LiteLLMUnavailable
    elif status >= 500:
        cls = LiteLLMServerError
    else:
        cls = LiteLLMError
    return cls(message, status=status, route=path)


def is_outage(exc: LiteLLMError) -> bool:
    """Whether the failure means "LiteLLM is down" (worth a stale cached answer), not "no"."""
    return isinstance(exc, LiteLLMUnavailable | LiteLLMServerError)


def connection_reason(exc: Exception) -> str:
    """A short, secret-free reason for a connection failure (urllib3's text names the URL)."""
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "resolve" in text:
        return "name resolution failed"
    if "reset" in text:
        return "connection reset"
    return type(exc).__name__
