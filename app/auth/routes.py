"""Sign-in (dev: type an email; oidc: the OpenID provider) and sign-out."""

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

from app.auth import oidc
from app.auth.session import end_session, get_or_create_user, load_user, start_session
from app.emails import looks_like_ascii, normalize_email

bp = Blueprint("auth", __name__, url_prefix="/auth")
bp.before_app_request(load_user)
bp.record_once(lambda state: oidc.init_app(state.app))
bp.after_app_request(oidc.allow_provider_sign_out)
# Where to go after the provider signs someone in; kept in the session across the round trip.
SESSION_NEXT = "oidc_next"
SESSION_ID_TOKEN = "oidc_id_token"


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so sign-in cannot redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("keys.index")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Type an email to sign in (AUTH_MODE=dev); off to the OpenID provider (AUTH_MODE=oidc)."""
    if current_app.config["AUTH_MODE"] == "oidc":
        session[SESSION_NEXT] = _safe_next(request.args.get("next"))
        return oidc.start_sign_in()
    if current_app.config["AUTH_MODE"] != "dev":
        abort(404)
    error = None
    email_value = ""
    if request.method == "POST":
        email_value = request.form.get("email", "")
        email = normalize_email(email_value)
        if email is None and any(looks_like_ascii(char) for char in email_value):
            error = (
                "This address has characters that stand for other letters (such as the Kelvin "
                "sign for K); type it with plain letters."
            )
        elif email is None:
            error = "Enter a valid email address, such as alice@example.com."
        else:
            start_session(get_or_create_user(email))
            return redirect(_safe_next(request.form.get("next")), 303)
    status = 400 if error else 200
    return (
        render_template(
            "auth/sign_in.html", error=error, email=email_value, next=request.values.get("next", "")
        ),
        status,
    )


@bp.get("/callback")
def oidc_callback():
    """The provider sends people back here with a code; the portal checks it and signs them in."""
    if current_app.config["AUTH_MODE"] != "oidc":
        abort(404)
    target = _safe_next(session.get(SESSION_NEXT))
    identity, id_token = oidc.finish_sign_in()
    start_session(get_or_create_user(identity.email, identity.groups), identity.groups)
    session[SESSION_ID_TOKEN] = id_token  # the id_token_hint for signing out at the provider
    return redirect(target, 303)


@bp.get("/signed-out")
def signed_out():
    """Where the provider sends people after signing them out there too."""
    if current_app.config["AUTH_MODE"] != "oidc":
        abort(404)
    return render_template("auth/signed_out.html")


@bp.post("/sign-out")
def sign_out():
    """Forget the session; in oidc mode end the provider's session too, when it offers that.

    In header mode the proxy owns the real sign-out.
    """
    id_token = session.get(SESSION_ID_TOKEN)
    end_session()
    if current_app.config["AUTH_MODE"] == "oidc":
        provider_url = oidc.sign_out_url(id_token)
        return redirect(provider_url or url_for("auth.signed_out"), 303)
    if current_app.config["AUTH_MODE"] == "dev":
        return redirect(url_for("auth.sign_in"), 303)
    return redirect(url_for("main.index"), 303)
