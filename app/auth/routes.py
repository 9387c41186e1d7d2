"""Dev sign-in page and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from app.auth.session import SESSION_USER, get_or_create_user, load_user, normalize_email

bp = Blueprint("auth", __name__, url_prefix="/auth")
bp.before_app_request(load_user)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so sign-in cannot redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("keys.index")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Type an email to sign in (AUTH_MODE=dev only)."""
    if current_app.config["AUTH_MODE"] != "dev":
        abort(404)
    error = None
    email_value = ""
    if request.method == "POST":
        email_value = request.form.get("email", "")
        email = normalize_email(email_value)
        if email is None:
            error = "Enter a valid email address, such as alice@example.com."
        else:
            user = get_or_create_user(email)
            session.clear()
            session[SESSION_USER] = user.id
            return redirect(_safe_next(request.form.get("next")), 303)
    status = 400 if error else 200
    return (
        render_template(
            "auth/sign_in.html", error=error, email=email_value, next=request.values.get("next", "")
        ),
        status,
    )


@bp.post("/sign-out")
def sign_out():
    """Forget the session; in header mode the proxy owns the real sign-out."""
    session.clear()
    if current_app.config["AUTH_MODE"] == "dev":
        return redirect(url_for("auth.sign_in"), 303)
    return redirect(url_for("main.index"), 303)
