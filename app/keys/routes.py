"""The user's keys: list, a page per key, create (secret shown once), rotate and revoke, each
confirmed first.

Views only parse, call ``app.services.keys`` and render. htmx requests get fragments
(``_key_list.html``, ``_create_form.html``, ``_revoke_confirm.html``); plain forms get whole
pages or a 303 redirect, so everything works without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_htmx import make_response as htmx_response

from app import audit
from app.auth import login_required
from app.htmx import is_partial, render_page_or_partial
from app.keys.forms import BUDGET_PERIOD_LABELS, CreateKeyForm
from app.models import ApiKey
from app.services import admin as admin_service
from app.services import key_listing, rotation, token_retirement
from app.services import keys as key_service
from app.services.key_detail import key_detail, time_left

bp = Blueprint("keys", __name__, url_prefix="/keys")

PAGE = "keys/index.html"


def _own_key_or_404(key_id: int) -> ApiKey:
    """The signed-in user's key; another user's key looks exactly like a missing one."""
    key = key_listing.find_user_key(g.user, key_id)
    if key is None:
        abort(404)
    return key


def _viewable_key_or_404(key_id: int) -> ApiKey:
    """The user's own key, or for an admin anyone's (the view is then audited)."""
    key = key_listing.find_user_key(g.user, key_id)
    if key is None and g.user.is_admin:
        key = admin_service.get_key(key_id)
        if key is not None:
            audit.record("admin.key.view", actor=g.user, target_user=key.user, target_key=key)
    if key is None:
        abort(404)
    return key


def _render(partial: str, status: int = 200, **context):
    """The keys page or one of its fragments, with what the create form needs (the list alone
    does not show the form, so it costs no model-list call)."""
    if "offered_models" not in context:
        shows_form = not (is_partial() and partial == "keys/_key_list.html")
        context["offered_models"] = key_listing.offered_models() if shows_form else None
    context.setdefault("budget_periods", BUDGET_PERIOD_LABELS)
    return render_page_or_partial(PAGE, partial, status, **context)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("")
@login_required
def index():
    """The keys page (or, for htmx, just the list region)."""
    listing = key_listing.list_keys_for_user(g.user)
    return _render("keys/_key_list.html", listing=listing, form=CreateKeyForm())


@bp.get("/<id:key_id>")
@login_required
def detail(key_id: int):
    """One key: status and why, budget window, expiry, models, limits, usage, audit events."""
    key = _viewable_key_or_404(key_id)
    return render_page_or_partial(
        "keys/detail.html", "keys/_detail.html", detail=key_detail(key), time_left=time_left
    )


def _form_error(form: CreateKeyForm, status: int):
    """Re-render the create form with its errors; LiteLLM is not asked for the key list."""
    listing = key_listing.list_keys_for_user(g.user, with_litellm=False)
    response = _render("keys/_create_form.html", status, listing=listing, form=form)
    # The form's hx-target is the list; errors belong in the form itself.
    return _no_store(htmx_response(response, retarget="#key-create", reswap="outerHTML"))


@bp.post("")
@login_required
def create():
    """Create a key; the response shows its secret once and is never cached."""
    form = CreateKeyForm.from_form(request.form)
    # Only a form that names models needs LiteLLM's list to check them against.
    offered = key_listing.offered_models() if form.chosen_models else None
    new_key = form.validate(offered)
    if new_key is None:
        return _form_error(form, 400)
    try:
        created = key_service.create_key(g.user, new_key)
    except key_service.AlreadyCreated as exc:
        # A double submission: show the list, never the secret again.
        listing = key_listing.list_keys_for_user(g.user)
        response = _render(
            "keys/_create_result.html",
            listing=listing,
            form=CreateKeyForm(),
            message=exc.message,
        )
        return _no_store(response)
    except key_service.KeyServiceError as exc:
        if exc.field:
            form.errors[exc.field] = exc.message
        else:
            form.error = exc.message
        return _form_error(form, exc.status)
    listing = key_listing.list_keys_for_user(g.user)
    response = _render(
        "keys/_create_result.html",
        201,
        listing=listing,
        form=CreateKeyForm(),
        created=created,
    )
    return _no_store(response)


@bp.get("/<id:key_id>/revoke")
@login_required
def revoke_confirm(key_id: int):
    """The confirmation step: a POST form (inline for htmx, a page otherwise)."""
    key = _own_key_or_404(key_id)
    return render_page_or_partial(
        "keys/revoke.html", "keys/_revoke_confirm.html", key=key, standalone=not is_partial()
    )


@bp.post("/<id:key_id>/revoke")
@login_required
def revoke(key_id: int):
    """Revoke the key in LiteLLM and mark it revoked; LiteLLM down → nothing changes."""
    key = _own_key_or_404(key_id)
    try:
        result = key_service.revoke_key(key, actor=g.user)
    except key_service.KeyServiceError as exc:
        listing = key_listing.list_keys_for_user(g.user)
        return _render(
            "keys/_key_list.html",
            exc.status,
            listing=listing,
            form=CreateKeyForm(),
            list_error=exc.message,
        )
    if result.already_revoked:
        message = f"Key “{key.label}” was already revoked."
    else:
        message = f"Key “{key.label}” revoked. Programs using it can no longer call LiteLLM."
    if not is_partial():
        flash(message)
        return redirect(url_for("keys.index"), 303)
    listing = key_listing.list_keys_for_user(g.user)
    return _render("keys/_key_list.html", listing=listing, form=CreateKeyForm(), message=message)


@bp.get("/<id:key_id>/rotate")
@login_required
def rotate_confirm(key_id: int):
    """The rotation step: pick how long the old secret keeps working (a POST form)."""
    key = _own_key_or_404(key_id)
    return render_page_or_partial(
        "keys/rotate.html",
        "keys/_rotate_confirm.html",
        key=key,
        seen_token=rotation.current_token_mark(key),
        earlier_grace_until=rotation.grace_secret_until(key),
        rotate_url=url_for("keys.rotate", key_id=key.id),
        list_url=url_for("keys.index"),
        list_id="key-list",
        standalone=not is_partial(),
    )


@bp.post("/<id:key_id>/rotate")
@login_required
def rotate(key_id: int):
    """Give the key a new secret, shown once (never cached); a double submission shows none."""
    key = _own_key_or_404(key_id)
    token_retirement.retire_due([key.id])
    context = {}
    status = 200
    try:
        context["created"] = rotation.rotate_key(
            key,
            actor=g.user,
            grace=request.form.get("grace", ""),
            seen_token=request.form.get("rotation_mark", ""),
        )
    except rotation.AlreadyRotated as exc:
        context["message"] = exc.message
    except key_service.KeyServiceError as exc:
        status, context["list_error"] = exc.status, exc.message
    if "created" in context and not is_partial():
        # Shown as a whole page (the rotate page posts without htmx), the answer is the keys
        # page and takes its address: a reload must not post again (the secret is shown once).
        context["replace_url"] = url_for("keys.index")
    listing = key_listing.list_keys_for_user(g.user)
    response = _render(
        "keys/_key_list.html", status, listing=listing, form=CreateKeyForm(), **context
    )
    return _no_store(response)
