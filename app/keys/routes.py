"""The user's keys: list, create (secret shown once), rotate and revoke, each confirmed first.

Views only parse, call ``app.services.keys`` and render. htmx requests get fragments
(``_key_list.html``, ``_create_form.html``, ``_revoke_confirm.html``); plain forms get whole
pages or a 303 redirect, so everything works without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_htmx import make_response as htmx_response

from app.auth import login_required
from app.htmx import is_partial, render_page_or_partial
from app.keys.forms import CreateKeyForm
from app.models import ApiKey
from app.services import key_listing, rotation, token_retirement
from app.services import keys as key_service

bp = Blueprint("keys", __name__, url_prefix="/keys")

PAGE = "keys/index.html"


def _own_key_or_404(key_id: int) -> ApiKey:
    """The signed-in user's key; another user's key looks exactly like a missing one."""
    key = key_listing.find_user_key(g.user, key_id)
    if key is None:
        abort(404)
    return key


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("")
@login_required
def index():
    """The keys page (or, for htmx, just the list region)."""
    listing = key_listing.list_keys_for_user(g.user)
    return render_page_or_partial(
        PAGE, "keys/_key_list.html", listing=listing, form=CreateKeyForm()
    )


def _form_error(form: CreateKeyForm, status: int):
    """Re-render the create form with its errors; LiteLLM is not asked for the list."""
    listing = key_listing.list_keys_for_user(g.user, with_litellm=False)
    response = render_page_or_partial(
        PAGE, "keys/_create_form.html", status=status, listing=listing, form=form
    )
    # The form's hx-target is the list; errors belong in the form itself.
    return _no_store(htmx_response(response, retarget="#key-create", reswap="outerHTML"))


@bp.post("")
@login_required
def create():
    """Create a key; the response shows its secret once and is never cached."""
    form = CreateKeyForm.from_form(request.form)
    new_key = form.validate()
    if new_key is None:
        return _form_error(form, 400)
    try:
        created = key_service.create_key(g.user, new_key)
    except key_service.AlreadyCreated as exc:
        # A double submission: show the list, never the secret again.
        listing = key_listing.list_keys_for_user(g.user)
        response = render_page_or_partial(
            PAGE,
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
    response = render_page_or_partial(
        PAGE,
        "keys/_create_result.html",
        status=201,
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
    return render_page_or_partial("keys/revoke.html", "keys/_revoke_confirm.html", key=key)


@bp.post("/<id:key_id>/revoke")
@login_required
def revoke(key_id: int):
    """Revoke the key in LiteLLM and mark it revoked; LiteLLM down → nothing changes."""
    key = _own_key_or_404(key_id)
    try:
        result = key_service.revoke_key(key, actor=g.user)
    except key_service.KeyServiceError as exc:
        listing = key_listing.list_keys_for_user(g.user)
        return render_page_or_partial(
            PAGE,
            "keys/_key_list.html",
            status=exc.status,
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
    return render_page_or_partial(
        PAGE, "keys/_key_list.html", listing=listing, form=CreateKeyForm(), message=message
    )


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
        rotate_url=url_for("keys.rotate", key_id=key.id),
        list_url=url_for("keys.index"),
        list_id="key-list",
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
    listing = key_listing.list_keys_for_user(g.user)
    response = render_page_or_partial(
        PAGE, "keys/_key_list.html", status, listing=listing, form=CreateKeyForm(), **context
    )
    return _no_store(response)
