"""What the user's usage page and the admin's usage page share: the form shown again after a
bad query, the refresh limit, and loading a report into the results region (error panels,
their titles and status codes, the chart). Each page keeps only what is its own: whose usage,
which template."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Response, current_app, g

from app import ratelimit
from app.htmx import is_partial
from app.services.litellm import LiteLLMError, LiteLLMTooLarge, LiteLLMUnavailable
from app.services.tokens import UnknownAlias
from app.services.usage_query import InvalidUsageQuery, UsageQuery

REFRESH_LIMITED = "You refreshed very often just now, so this is cached data. Try again soon."

Render = Callable[..., Response]


def form_after_error(exc: InvalidUsageQuery, **extra: str) -> dict[str, str]:
    """The filters as typed, so the page shows them again beside the errors."""
    form = dict(exc.raw, **extra)
    form["preset"] = form.get("preset") or ("custom" if form.get("start_date") else "7d")
    return form


def form_values(query: UsageQuery, **extra: str) -> dict[str, str]:
    """The filters of a valid query, as the form fields hold them."""
    return {
        **extra,
        "key": query.key_param,
        "preset": query.preset,
        "start_date": query.start.isoformat(),
        "end_date": query.end.isoformat(),
        "metric": query.metric,
    }


def refresh_or_notice(query: UsageQuery) -> tuple[bool, str | None]:
    """Whether this view may bypass the cache of LiteLLM answers; a notice when refreshing
    was asked for too often (the cached data is shown instead)."""
    if not query.refresh:
        return False, None
    if ratelimit.hit(g.user, "usage-refresh", current_app.config["RATE_LIMIT_USAGE_REFRESH"]):
        return True, None
    return False, REFRESH_LIMITED


def describe_error(exc: LiteLLMError) -> dict[str, str]:
    """The error panel's title and detail for a LiteLLM failure."""
    if isinstance(exc, LiteLLMTooLarge):
        title = "This range is too large for LiteLLM to answer in time"
    elif isinstance(exc, LiteLLMUnavailable):
        title = "LiteLLM is unreachable"
    else:
        title = "LiteLLM could not deliver usage data"
    return {"title": title, "detail": exc.message}


def render_results(
    render: Render, load: Callable[[], Mapping], context: dict, *, what: str
) -> Response:
    """Render what ``load()`` returns (``report`` and any more context; the page shows the
    report with ``usage_report()``, app/usage/report_fragment.py), or the panel for a key
    LiteLLM does not know, or for LiteLLM failing: 200 for a page, 502 for an htmx fragment
    (base.html's htmx-config swaps it)."""
    try:
        loaded = dict(load())
    except UnknownAlias as exc:
        return render(200, unknown_alias=exc, **context)
    except LiteLLMError as exc:
        current_app.logger.warning("%s: %s", what, exc)
        return render(502 if is_partial() else 200, api_error=describe_error(exc), **context)
    return render(200, **loaded, **context)
