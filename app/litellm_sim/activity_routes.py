"""/user/daily/activity and /user/daily/activity/aggregated: row paging, inclusive UTC days
(docs/litellm.md)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from . import activity
from .errors import Params, detail_error
from .state import SimState
from .values import utcnow
from .versions import activity_as_sent_by

bp = Blueprint("litellm_sim_activity", __name__)


def _state() -> SimState:
    return current_app.extensions["litellm_sim"]


def _valid_date(value: str) -> bool:
    try:
        return date.fromisoformat(value).isoformat() == value  # strict round-trip
    except ValueError:
        return False


def _common(p: Params, user_filter: str) -> tuple[list[dict[str, Any]], SimState]:
    """Validate dates/filters shared by both endpoints; return the matching rows.

    ``user_filter`` names the feature (``versions.FEATURES``) from which the endpoint honours
    ``user_id``; older releases return every user's rows to an admin.
    """
    start, end = p.str("start_date"), p.str("end_date")
    tz = p.int("timezone", None)
    include_today = p.bool("include_current_utc_day")
    p.check()
    if not start or not end:
        raise detail_error(400, "Please provide start_date and end_date")
    state = _state()
    if state.supports("strict_dates"):
        if not (_valid_date(start) and _valid_date(end)):
            raise detail_error(400, "start_date and end_date must be valid YYYY-MM-DD dates")
        if end < start:
            raise detail_error(400, "end_date must be on or after start_date")
    if include_today and tz is not None:
        # JS getTimezoneOffset sign: local = UTC - offset minutes.
        now = utcnow()
        local_today = (now - timedelta(minutes=tz)).date().isoformat()
        if end >= local_today:
            end = max(end, now.date().isoformat())
    honours_user = state.supports(user_filter) and not state.ignore_user_filter
    user_id = p.str("user_id") if honours_user else None
    api_key, model = p.str("api_key"), p.str("model")
    # The pages of one listing filter the same rows: done once while the rows stay the same.
    memo_key = (state.rows_generation, start, end, user_id, api_key, model)
    with state.lock:
        if state.filtered_rows is None or state.filtered_rows[0] != memo_key:
            rows = activity.filter_rows(
                state.rows, start=start, end=end, user_id=user_id, api_key=api_key, model=model
            )
            state.filtered_rows = (memo_key, rows)
        rows = state.filtered_rows[1]
    return rows, state


@bp.get("/user/daily/activity")
def user_daily_activity() -> Any:
    """Paginated over raw rows (date desc, id asc); totals cover this page only."""
    p = Params(request.args)
    page = p.int("page", 1, ge=1)
    page_size = p.int("page_size", 50, ge=1, le=1000)
    rows, state = _common(p, "user_filter")
    assert page is not None and page_size is not None
    never = state.never_ending_for(request.path)
    # The pages of one listing share one sort of its rows (a year of an organisation's rows
    # would otherwise be sorted again for every page).
    query = tuple(sorted((k, v) for k, v in request.args.items() if k not in ("page", "page_size")))
    memo_key = (state.rows_generation, query)
    with state.lock:
        if state.sorted_rows is None or state.sorted_rows[0] != memo_key:
            state.sorted_rows = (memo_key, activity.date_desc(rows))
        ordered = state.sorted_rows[1]
    body = activity.paginated(ordered, state, page, page_size, never)
    return jsonify(activity_as_sent_by(state.version, body))


@bp.get("/user/daily/activity/aggregated")
def user_daily_activity_aggregated() -> Any:
    """The whole range in one response; per-key dicts limited to ``api_key_limit`` keys."""
    p = Params(request.args)
    limit = None  # before 1.106 every key is returned and the parameter is unknown
    if _state().supports("api_key_limit"):
        limit = p.int("api_key_limit", 100, ge=1, le=1000)
    rows, state = _common(p, "aggregated_user_filter")
    body = activity.aggregated(rows, state, limit)
    if state.never_ending_for(request.path):
        body["metadata"].update(total_pages=activity.NEVER_ENDING_PAGES, has_more=True)
    return jsonify(activity_as_sent_by(state.version, body))
