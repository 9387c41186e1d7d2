"""Admin views across users: usage of everyone, any user's keys (rotate, revoke), the audit trail.

Every route is ``admin_required``: anyone else gets the same 404 as an unknown URL. Views parse,
call ``app.services.admin`` / ``usage`` / ``keys`` and render; admin actions that touch another
user's data are written to the audit trail.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from app import audit
from app.auth import admin_required
from app.htmx import is_partial, render_page_or_partial
from app.ids import parse_id
from app.models import ApiKey, User
from app.services import admin as admin_service
from app.services import admin_tables, key_listing, rotation, token_retirement
from app.services import keys as key_service
from app.services.usage import usage_for_key, usage_for_user
from app.services.usage_query import METRICS, PRESETS, InvalidUsageQuery, UsageQuery
from app.usage.view import form_after_error, form_values, refresh_or_notice, render_results

bp = Blueprint("admin", __name__, url_prefix="/admin")

NO_SUCH_USER = "There is no user with this id."
NO_SUCH_KEY = "This user has no key with this id."


@bp.after_request
def _private(response: Response) -> Response:
    """Admin pages show other people's data: no shared cache may keep them, no browser cache
    may replay them after sign-out (set on every response of the blueprint, errors included)."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _user_or_404(user_id: int) -> User:
    user = admin_service.get_user(user_id)
    if user is None:
        abort(404, description=NO_SUCH_USER)
    return user


def _key_or_404(user: User, key_id: int) -> ApiKey:
    key = key_listing.find_user_key(user, key_id)
    if key is None:
        abort(404, description=NO_SUCH_KEY)
    return key


def _user_param() -> int | None:
    """The ``user`` filter: an id, or empty/``all`` for everyone; 404 for anything else."""
    raw = (request.args.get("user") or "").lower()  # unstripped: " 1" is not an id
    if raw in ("", "all"):
        return None
    user_id = parse_id(raw)
    if user_id is None:
        abort(404, description=NO_SUCH_USER)
    return user_id


def _usage_context(**context) -> dict:
    for name in ("errors", "query", "report", "all_users", "api_error", "unknown_alias"):
        context.setdefault(name, {} if name == "errors" else None)
    context.setdefault("notice", None)
    context.setdefault("target_user", None)
    context.setdefault("selected_key", None)
    context.setdefault("user_table", None)
    context.setdefault("key_table", None)
    context.setdefault("table_views", ())
    return context


def _render_usage(status: int = 200, **context):
    context = _usage_context(**context)
    target = context["target_user"]
    form = context.get("form") or {}
    return render_page_or_partial(
        "admin/usage.html",
        "admin/_usage_results.html",
        status,
        users=admin_service.all_users(),
        user_keys=key_listing.keys_of(target, newest_first=False) if target is not None else [],
        presets=PRESETS,
        metrics=METRICS,
        # The shared usage fragments (cards, chart, tables) link back here, keeping the user.
        results_endpoint="admin.usage",
        # ...and keep both tables' search, sort and page.
        results_args={
            "user": form.get("user") or "all",
            **{k: v for view in context["table_views"] for k, v in view.params().items()},
        },
        results_prefix="admin-",
        **context,
    )


@bp.get("/usage")
@admin_required
def usage():
    """Usage of all users (with the users table), of one user, or of one key."""
    user_id = _user_param()
    target = _user_or_404(user_id) if user_id is not None else None
    try:
        query = UsageQuery.parse(request.args)
    except InvalidUsageQuery as exc:
        form = form_after_error(exc, user=request.args.get("user", ""))
        return _render_usage(400, errors=exc.errors, form=form, target_user=target)
    key = None
    if query.key_id is not None:
        if target is None:  # a key alone: its owner is the user filter
            found = admin_service.get_key(query.key_id)
            if found is None:
                abort(404, description=NO_SUCH_KEY)
            target = found.user
        key = _key_or_404(target, query.key_id)

    refresh, notice = refresh_or_notice(query)
    if target is not None and target.id != g.user.id:
        audit.record(
            "admin.usage.view",
            actor=g.user,
            target_user=target,
            target_key=key,
            detail={"start": query.start.isoformat(), "end": query.end.isoformat()},
        )
    form = form_values(query, user=str(target.id) if target is not None else "all")
    user_view, key_view = admin_tables.table_views(request.args)
    context = {
        "query": query,
        "form": form,
        "target_user": target,
        "selected_key": key,
        "notice": notice,
        "table_views": (user_view, key_view) if target is None else (),
    }

    def load() -> dict:
        start, end = query.start, query.end
        if key is not None:
            return {"report": usage_for_key(key, start, end, refresh=refresh)}
        if target is not None:
            return {"report": usage_for_user(target, start, end, refresh=refresh)}
        everyone = admin_service.usage_for_all_users(start, end, refresh=refresh)
        return {
            "report": everyone.report,
            "all_users": everyone,
            "user_table": admin_tables.users_table(everyone.users, user_view),
            "key_table": admin_tables.keys_table(everyone.keys, key_view),
        }

    return render_results(_render_usage, load, context, what="admin usage view")


@bp.get("/usage/key-field")
@admin_required
def usage_key_field():
    """The usage form's Key select for the user just picked, so it lists that user's keys
    before "Show usage" (the select sits outside the results region the form replaces)."""
    user_id = _user_param()
    target = _user_or_404(user_id) if user_id is not None else None
    return render_template(
        "admin/_usage_key_field.html",
        user_keys=key_listing.keys_of(target, newest_first=False) if target is not None else [],
        target_user=target,
        form={"key": "all"},
        errors={},
        results_prefix="admin-",
    )


# --- any user's keys -----------------------------------------------------------------------


def _render_keys(user: User, status: int = 200, **context):
    listing = key_listing.list_keys_for_user(user)
    context.setdefault("message", None)
    context.setdefault("list_error", None)
    return render_page_or_partial(
        "admin/user_keys.html",
        "admin/_user_keys.html",
        status,
        target_user=user,
        listing=listing,
        **context,
    )


@bp.get("/users/<id:user_id>/keys")
@admin_required
def user_keys(user_id: int):
    """One user's keys with LiteLLM spend, and a revoke action per active key."""
    user = _user_or_404(user_id)
    if user.id != g.user.id:
        audit.record("admin.keys.view", actor=g.user, target_user=user)
    return _render_keys(user)


@bp.get("/users/<id:user_id>/keys/<id:key_id>/revoke")
@admin_required
def revoke_confirm(user_id: int, key_id: int):
    """The confirmation step before an admin revokes someone's key."""
    user = _user_or_404(user_id)
    key = _key_or_404(user, key_id)
    return render_page_or_partial(
        "admin/revoke.html",
        "admin/_revoke_confirm.html",
        target_user=user,
        key=key,
        standalone=not is_partial(),
    )


@bp.post("/users/<id:user_id>/keys/<id:key_id>/revoke")
@admin_required
def revoke(user_id: int, key_id: int):
    """Revoke the key in LiteLLM and the portal; recorded as ``admin.key.revoke``."""
    user = _user_or_404(user_id)
    key = _key_or_404(user, key_id)
    try:
        result = key_service.revoke_key(key, actor=g.user)
    except key_service.KeyServiceError as exc:
        return _render_keys(user, exc.status, list_error=exc.message)
    if result.already_revoked:
        message = f"Key “{key.label}” was already revoked."
    else:
        audit.record(
            "admin.key.revoke",
            actor=g.user,
            target_user=user,
            target_key=key,
            detail={"alias": key.alias},
        )
        message = f"Key “{key.label}” of {user.email} revoked."
    if not is_partial():
        flash(message)
        return redirect(url_for("admin.user_keys", user_id=user.id), 303)
    return _render_keys(user, message=message)


@bp.get("/users/<id:user_id>/keys/<id:key_id>/rotate")
@admin_required
def rotate_confirm(user_id: int, key_id: int):
    """The step before an admin rotates someone's key: the grace period of the old secret."""
    user = _user_or_404(user_id)
    key = _key_or_404(user, key_id)
    return render_page_or_partial(
        "keys/rotate.html",
        "keys/_rotate_confirm.html",
        target_user=user,
        key=key,
        seen_token=rotation.current_token_mark(key),
        earlier_grace_until=rotation.grace_secret_until(key),
        rotate_url=url_for("admin.rotate", user_id=user.id, key_id=key.id),
        list_url=url_for("admin.user_keys", user_id=user.id),
        list_id="admin-user-keys",
        standalone=not is_partial(),
    )


@bp.post("/users/<id:user_id>/keys/<id:key_id>/rotate")
@admin_required
def rotate(user_id: int, key_id: int):
    """Rotate the key's secret for its owner; the new secret is shown once, to the admin."""
    user = _user_or_404(user_id)
    key = _key_or_404(user, key_id)
    token_retirement.retire_due([key.id])
    try:
        rotated = rotation.rotate_key(
            key,
            actor=g.user,
            grace=request.form.get("grace", ""),
            seen_token=request.form.get("rotation_mark", ""),
        )
    except rotation.AlreadyRotated as exc:
        return _render_keys(user, message=exc.message)
    except key_service.KeyServiceError as exc:
        return _render_keys(user, exc.status, list_error=exc.message)
    # Shown as a whole page, the address becomes the key list's: a reload must not post again.
    replace_url = None if is_partial() else url_for("admin.user_keys", user_id=user.id)
    return _render_keys(user, created=rotated, replace_url=replace_url)


# --- audit trail ---------------------------------------------------------------------------


def _audit_filters_or_none():
    """The parsed filters, or (None, errors)."""
    try:
        return admin_service.AuditFilters.parse(request.args), {}
    except admin_service.InvalidAuditFilter as exc:
        return None, exc.errors


@bp.get("/audit")
@admin_required
def audit_log():
    """The audit trail, newest first; filter by action, user email (actor or target) and
    UTC days. Bad filters answer 400 with the form and its messages."""
    filters, errors = _audit_filters_or_none()
    # A page number is written like an id; anything else shows the first page.
    page = parse_id(request.args.get("page")) or 1
    if filters is None:
        page_data = admin_service.AuditPage((), 1, 1, 0, admin_service.audit_actions())
        form = {name: request.args.get(name, "") for name in ("action", "user", "start", "end")}
        status = 400
    else:
        page_data = admin_service.audit_events(filters, page=page)
        form = {"action": "", "user": "", "start": "", "end": "", **filters.as_args()}
        status = 200
    return render_page_or_partial(
        "admin/audit.html",
        "admin/_audit_table.html",
        status,
        audit=page_data,
        filters=form,
        filter_args=filters.as_args() if filters else {},
        errors=errors,
        detail_fields=admin_service.detail_fields,
        short_token=admin_service.short_token,
    )


@bp.get("/audit.csv")
@admin_required
def audit_export():
    """The filtered audit trail as CSV (full token ids); bad filters: 400 with a JSON error."""
    filters, errors = _audit_filters_or_none()
    if filters is None:
        return {"error": "invalid filters", "fields": errors}, 400
    return Response(
        admin_service.audit_csv(filters),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
