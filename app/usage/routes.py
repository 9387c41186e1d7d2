"""Usage per key or for all of the user's keys: the page, its htmx fragment and the exports.

Status policy: the page answers 200 with an error panel inside the results region when LiteLLM
fails; an htmx fragment request answers 502 (base.html's htmx-config swaps it); exports answer
502 with ``{"error": ...}`` when no cached data exists, else 200 with the last data, marked
stale (``"stale"``/``"as_of"`` in the JSON, ``X-Data-Stale``/``X-Data-As-Of`` headers on
both). Bad query parameters answer 400 (panel, or JSON for exports). A key
id that is not the user's answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, url_for

from app.auth import login_required
from app.htmx import is_partial, render_page_or_partial
from app.models import ApiKey
from app.services.key_listing import find_user_key, keys_of
from app.services.litellm import LiteLLMError, LiteLLMTooLarge
from app.services.money import format_money
from app.services.token_retirement import retire_due
from app.services.tokens import UnknownAlias
from app.services.usage import UsageReport, usage_for_key, usage_for_user
from app.services.usage_compare import compare, split_previous
from app.services.usage_export import (
    export_filename,
    freshness_headers,
    report_csv,
    report_json,
)
from app.services.usage_query import METRICS, PRESETS, InvalidUsageQuery, UsageQuery
from app.services.usage_tables import aria_sort, next_sort, sort_rows
from app.usage.links import query_url
from app.usage.report_fragment import MEMO, new_memo, usage_report
from app.usage.view import (
    form_after_error,
    form_values,
    refresh_or_notice,
    render_results,
)

bp = Blueprint("usage", __name__, url_prefix="/usage")

# One money format for every page (keys, usage, admin): {{ value|money }}.
bp.add_app_template_filter(format_money, "money")
bp.add_app_template_filter(sort_rows, "usage_sorted")
bp.add_app_template_global(next_sort, "usage_next_sort")
bp.add_app_template_global(aria_sort, "usage_aria_sort")
bp.add_app_template_global(query_url, "usage_query_url")
bp.add_app_template_global(usage_report, "usage_report")
bp.record_once(lambda state: state.app.extensions.setdefault(MEMO, new_memo()))

NO_SUCH_KEY = "You have no key with this id."


def _report(
    query: UsageQuery, key: ApiKey | None, *, refresh: bool = False, period=None
) -> UsageReport:
    start, end = period or (query.start, query.end)
    if key is not None:
        retire_due([key.id])  # an old secret whose grace period ended goes now
        return usage_for_key(key, start, end, refresh=refresh)
    return usage_for_user(g.user, start, end, refresh=refresh)


def _report_with_previous(query: UsageQuery, key: ApiKey | None, refresh: bool) -> dict:
    """The report and its comparison with the period of the same length just before it, both
    from one LiteLLM call over the two periods (the day cache then holds both).

    A range whose two periods together are more than LiteLLM can hand over in time is shown
    without its comparison rather than refused.
    """
    try:
        both = _report(query, key, refresh=refresh, period=(query.previous[0], query.end))
    except LiteLLMTooLarge:
        return {"report": _report(query, key, refresh=refresh), "comparison": None}
    report, previous = split_previous(both, query.start)
    return {"report": report, "comparison": compare(report.totals, previous, query.days)}


def _render(status: int = 200, **context) -> Response:
    context.setdefault("errors", {})
    context.setdefault("query", None)
    context.setdefault("report", None)
    context.setdefault("notice", None)
    context.setdefault("api_error", None)
    context.setdefault("unknown_alias", None)
    return render_page_or_partial(
        "usage/index.html",
        "usage/_results.html",
        status,
        keys=keys_of(g.user, newest_first=False),
        presets=PRESETS,
        metrics=METRICS,
        **context,
    )


@bp.get("")
@login_required
def index():
    """The usage page; with ``HX-Request`` only the results region (filters swap just that)."""
    try:
        query = UsageQuery.parse(request.args)
    except InvalidUsageQuery as exc:
        return _render(400, errors=exc.errors, form=form_after_error(exc))
    key = None
    if query.key_id is not None:
        key = find_user_key(g.user, query.key_id)
        if key is None:
            abort(404, description=NO_SUCH_KEY)

    refresh, notice = refresh_or_notice(query)
    context = {"query": query, "form": form_values(query), "selected_key": key, "notice": notice}
    response = render_results(
        _render,
        lambda: _report_with_previous(query, key, refresh),
        context,
        what="usage view",
    )
    if is_partial():
        # The address bar shows the view's canonical URL: a preset never drags stale dates
        # along, and "refresh" is never kept.
        response.headers["HX-Push-Url"] = url_for("usage.index", **query.params())
    return response


def _json_error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _export(kind: str) -> Response:
    try:
        query = UsageQuery.parse(request.args)
    except InvalidUsageQuery as exc:
        return _json_error(str(exc), 400)
    key = None
    if query.key_id is not None:
        key = find_user_key(g.user, query.key_id)
        if key is None:
            return _json_error(NO_SUCH_KEY, 404)
    try:
        report = _report(query, key)
    except UnknownAlias as exc:
        return _json_error(str(exc), 400)
    except LiteLLMError as exc:
        current_app.logger.warning("usage export: %s", exc)
        return _json_error(f"LiteLLM could not deliver usage data: {exc.message}", 502)
    if kind == "csv":
        response = Response(report_csv(report), mimetype="text/csv")
    else:
        # Not jsonify: it sorts keys, and "date" first in each daily row reads better.
        response = Response(json.dumps(report_json(report)), mimetype="application/json")
    filename = export_filename(report, kind)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers.update(freshness_headers(report))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/export.csv")
@login_required
def export_csv():
    """One row per UTC day of the range (same query parameters as the page)."""
    return _export("csv")


@bp.get("/export.json")
@login_required
def export_json():
    """Totals, daily rows, models, providers (and keys for "all") as JSON."""
    return _export("json")
