"""Who is signed in.

``AUTH_MODE=header``: a reverse proxy (oauth2-proxy style) authenticates people and passes their
email in ``AUTH_HEADER``; it is trusted only from ``TRUSTED_PROXY_IPS`` (``*``: any peer; empty:
any peer too, refused in production). ``AUTH_MODE=dev``: a sign-in page where you type an email.
``AUTH_MODE=oidc``: the portal signs people in with an OpenID provider (app/auth/oidc.py).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.emails import normalize_email
from app.extensions import db
from app.models import User
from app.transactions import write_transaction

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SESSION_USER = "user_id"
SESSION_EPOCH = "epoch"  # users.session_epoch at sign-in
SESSION_GROUPS = "admin_groups"  # OIDC groups that made the user an admin at sign-in
# Answered without looking anyone up: health checks must not depend on the database.
NO_USER_ENDPOINTS = frozenset({"main.healthz", "main.readyz", "static"})

log = logging.getLogger("app.auth")


def admin_by_config(email: str, groups: Iterable[str] = ()) -> bool:
    """Whether ``email`` is an admin now: ADMIN_EMAILS, plus (OIDC) membership of a group in
    OIDC_ADMIN_GROUPS. Checked on every request, so a demotion needs no new sign-in."""
    config = current_app.config
    return email in config["ADMIN_EMAILS"] or bool(set(config["OIDC_ADMIN_GROUPS"]) & set(groups))


def get_or_create_user(email: str, groups: Iterable[str] = ()) -> User:
    """Find the user by email, creating them (LiteLLM user_id = email) on first sign-in, with
    ``is_admin`` as :func:`admin_by_config` says now."""
    is_admin = admin_by_config(email, groups)
    by_email = sa.select(User).where(User.email == email)
    user = db.session.scalar(by_email)
    if user is not None and user.is_admin == is_admin:
        return user  # the usual case: nothing to write
    try:
        with write_transaction() as session:
            user = session.scalar(by_email)  # again, now that writers take turns
            if user is None:
                user = User(email=email, litellm_user_id=email, display_name=email.split("@")[0])
                session.add(user)
            user.is_admin = is_admin
    except IntegrityError:  # PostgreSQL: another request created the same user first
        user = db.session.scalar(by_email)
    return user


def start_session(user: User, groups: Iterable[str] = ()) -> None:
    """A fresh session for *user* (nothing from before sign-in survives), SESSION_LIFETIME long.

    It carries the user's ``session_epoch`` (sign-out raises it) and the OIDC groups that count
    for ``OIDC_ADMIN_GROUPS`` (re-checked on every request). Signing in writes nothing for a
    known user, so people can still sign in and read while the database is read-only."""
    admin_groups = sorted(set(groups) & set(current_app.config["OIDC_ADMIN_GROUPS"]))
    session.clear()
    session[SESSION_USER] = user.id
    session[SESSION_EPOCH] = user.session_epoch
    if admin_groups:
        session[SESSION_GROUPS] = admin_groups
    session.permanent = True


def end_session() -> None:
    """Sign-out: raise the user's epoch, which ends every session of theirs (a copied cookie
    too), then forget this one. A database that cannot write still ends this browser's."""
    user_id = session.get(SESSION_USER)
    session.clear()
    if not isinstance(user_id, int):
        return
    try:
        with write_transaction() as db_session:
            db_session.execute(
                sa.update(User)
                .where(User.id == user_id)
                .values(session_epoch=User.session_epoch + 1)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError as exc:
        log.error("sign-out of user %s not recorded server-side: %s", user_id, type(exc).__name__)


def _session_user() -> User | None:
    """The user of this request's session: None when it ended (signed out since, or from before
    epochs). An admin flag the configuration no longer grants (or now grants) is corrected here,
    on the next request."""
    user_id = session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    user = db.session.get(User, user_id)
    if user is None or session.get(SESSION_EPOCH) != user.session_epoch:
        session.clear()
        return None
    groups = session.get(SESSION_GROUPS) or ()
    if admin_by_config(user.email, groups) != user.is_admin:
        user = get_or_create_user(user.email, groups)
    return user


def _parse_ip(value: str | None) -> IPAddress | None:
    try:
        return ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None


def _trusts_every_peer(trusted: tuple[str, ...]) -> bool:
    return not trusted or "*" in trusted


def _is_trusted(address: IPAddress, trusted: tuple[str, ...]) -> bool:
    for entry in trusted:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # refused at start-up (config.py); never trust on a typo
            continue
    return False


def peer_is_trusted_proxy() -> bool:
    """Whether the direct peer may set the identity header (and X-Forwarded-For)."""
    trusted = current_app.config["TRUSTED_PROXY_IPS"]
    if _trusts_every_peer(trusted):
        return True
    peer = _parse_ip(request.remote_addr)
    return peer is not None and _is_trusted(peer, trusted)


def client_address() -> str:
    """The address of the person behind the proxy, for logs; never spoofable by a client.

    Only when the direct peer is a trusted proxy is ``X-Forwarded-For`` read, from the right:
    trusted proxy hops are skipped and the first untrusted address is the client. With
    ``TRUSTED_PROXY_IPS`` empty or ``*`` (every peer is a proxy) only the rightmost entry counts,
    i.e. the address the proxy in front of the portal saw. Anything further left is ignored.
    """
    peer = request.remote_addr or ""
    if not peer_is_trusted_proxy():
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("X-Forwarded-For")).split(",")]
    hops = [h for h in hops if h]
    trusted = current_app.config["TRUSTED_PROXY_IPS"]
    found = peer
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:  # garbage: stop at the last hop we could read
            break
        found = str(address)
        if _trusts_every_peer(trusted) or not _is_trusted(address, trusted):
            break
    return found


def load_user() -> None:
    """Set ``g.user`` for this request (None when nobody is signed in)."""
    g.user = None
    if request.endpoint in NO_USER_ENDPOINTS:
        return
    if current_app.config["AUTH_MODE"] == "header":
        header = current_app.config["AUTH_HEADER"]
        raw = request.headers.get(header)
        if not raw:
            return
        if not peer_is_trusted_proxy():
            # Still a 401, but visible: usually a proxy missing from TRUSTED_PROXY_IPS. The
            # header's value stays out of the log (a client wrote it: no log injection).
            peer = request.remote_addr or "unknown"
            log.warning(
                "identity header from untrusted peer %s ignored",
                peer,
                extra={"remote_addr": peer, "path": request.path},
            )
            return
        email = normalize_email(raw)
        if email:
            g.user = get_or_create_user(email)
        return
    g.user = _session_user()


def current_user() -> User | None:
    return g.get("user")


def login_required(view):
    """Sign-in wall: 401 in header mode (the proxy signs people in), else a redirect."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            if current_app.config["AUTH_MODE"] == "header":
                abort(401)
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Admins only; everyone else gets 404 so admin routes are not advertised."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not g.user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return wrapped
