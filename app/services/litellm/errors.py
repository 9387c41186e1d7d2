"""Exceptions raised by :class:`~app.services.litellm.client.LiteLLMClient`, and how an error
answer becomes one.

Views catch :class:`LiteLLMError` (or a subclass) and never see ``requests`` exceptions. The class
is chosen from the HTTP status only: LiteLLM's ``error.type`` changed between releases and is
ignored, its status codes did not (docs/litellm.md, "Errors").
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import requests


class LiteLLMError(Exception):
    """Any failure talking to LiteLLM.

    Attributes:
        status: HTTP status LiteLLM answered with, or ``None`` when no answer arrived.
        message: LiteLLM's own message, cleaned up for display (never contains the master key).
        route: The path that was called, e.g. ``/key/list`` (no query string).
    """

    def __init__(self, message: str, *, status: int | None = None, route: str | None = None):
        self.message = message
        self.status = status
        self.route = route
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"LiteLLM {self.route}" if self.route else "LiteLLM"
        if self.status is not None:
            return f"{where} answered {self.status}: {self.message}"
        return f"{where}: {self.message}"

    def __reduce__(self):  # keep pickling (e.g. by test runners) working with keyword args
        return (_rebuild, (type(self), self.message, self.status, self.route))


def _rebuild(cls, message, status, route):
    return cls(message, status=status, route=route)


class LiteLLMUnavailable(LiteLLMError):
    """LiteLLM could not be reached or is temporarily down: connection refused, DNS failure,
    timeout, or 429/502/503/504 after retries."""


class LiteLLMTimeout(LiteLLMUnavailable):
    """The request was sent but no answer came in time: LiteLLM may have done it anyway."""


class LiteLLMAuthError(LiteLLMError):
    """401/403: the master key is wrong or lacks the rights for this call."""


class LiteLLMNotFound(LiteLLMError):
    """404: the key (or, for the aggregated usage endpoint, the route) does not exist."""


class LiteLLMRejected(LiteLLMError):
    """400/409/422: LiteLLM refused the request, e.g. a duplicate key alias. ``message`` is
    LiteLLM's explanation and is safe to show to the user."""


class LiteLLMServerError(LiteLLMError):
    """500 (or another unexpected 5xx): LiteLLM failed internally, e.g. "DB not connected"."""


class LiteLLMTooLarge(LiteLLMUnavailable):
    """The range holds more usage than LiteLLM can hand over within the view's bounds (calls,
    time). Days fetched before the bound was reached are kept, so trying again continues; like
    an outage, it lets a view show days held from before (marked stale)."""


class LiteLLMBadResponse(LiteLLMError):
    """LiteLLM answered, but not with what the contract promises: HTML, invalid or truncated
    JSON, a wrong shape, or pagination that never ends."""


def _clean_repr(message: str) -> str:
    """Turn LiteLLM's ``"{'error': 'No keys found'}"`` (a Python dict repr inside ``message``,
    e.g. ``/key/delete`` for a missing key) into ``"No keys found"``; leave other text unchanged."""
    text = message.strip()
    if text.startswith("{") and text.endswith("}"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return message
        if isinstance(value, dict):
            inner = value.get("error", value.get("message", value.get("detail")))
            if isinstance(inner, str):
                return inner
    return message


def extract_message(body: Any, fallback: str) -> str:
    """Find the human-readable message in either LiteLLM error envelope.

    Order (docs/litellm.md, "Errors"): ``body["error"]["message"]``; ``body["detail"]["error"]``
    when ``detail`` is a dict; the ``msg`` of each item of a 422 ``detail`` list;
    ``str(detail)``.
    """
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message") is not None:
            return _clean_repr(str(error["message"]))
        if isinstance(error, str) and error:
            return _clean_repr(error)
        if "detail" in body:
            detail = body["detail"]
            if isinstance(detail, dict):
                inner = detail.get("error", detail.get("message"))
                if inner is not None:
                    return _clean_repr(str(inner))
                return str(detail)
            if isinstance(detail, list):
                parts = []
                for item in detail:
                    if isinstance(item, dict):
                        loc = item.get("loc")
                        field = ".".join(str(p) for p in loc[1:]) if isinstance(loc, list) else ""
                        msg = str(item.get("msg", item))
                        parts.append(f"{field}: {msg}" if field else msg)
                    else:
                        parts.append(str(item))
                if parts:
                    return "; ".join(parts)
            if detail is not None:
                return _clean_repr(str(detail))
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return fallback


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
    """Map a non-2xx answer to an exception. Branches on status only: LiteLLM's
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
