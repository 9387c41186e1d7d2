"""Who is signed in.

``AUTH_MODE=header``: a reverse proxy (oauth2-proxy style) authenticates people and passes their
email in ``AUTH_HEADER``; it is trusted only from ``TRUSTED_PROXY_IPS`` (``*``: any peer; empty:
any peer too, refused in production). ``AUTH_MODE=dev``: a sign-in page where you type an email.
``AUTH_MODE=oidc``: the portal signs people in with an OpenID provider (app/auth/oidc.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import logging
import secrets
from collections.abc import Iterable

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy.exc import IntegrityError

from app.emails import normalize_email
from app.extensions import db
from app.models import User, UserSession, utcnow
from app.transactions import write_transaction

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SESSION_ID = "sid"  # the user_sessions row of this sign-in
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
    """A fresh session for *user* (nothing from before sign-in survives), SESSION_LIFETIME long,
    recorded server-side so that sign-out ends it for good."""
    session_id = secrets.token_urlsafe(32)
    user_id = user.id
    admin_groups = sorted(set(groups) & set(current_app.config["OIDC_ADMIN_GROUPS"]))
    lifetime = dt.timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    with write_transaction() as db_session:
        db_session.execute(  # this user's sessions that have run out: nobody can use them
            sa.delete(UserSession).where(
                UserSession.user_id == user_id, UserSession.created_at < utcnow() - lifetime
            )
        )
        db_session.add(
            UserSession(
                token=session_id,
                user_id=user_id,
                admin_groups=json.dumps(admin_groups) if admin_groups else None,
            )
        )
    session.clear()
    session[SESSION_ID] = session_id
    session.permanent = True


def end_session() -> None:
    """Sign-out: delete the server's record of this session, then forget the cookie's."""
    session_id = session.get(SESSION_ID)
    session.clear()
    if isinstance(session_id, str):
        with write_transaction() as db_session:
            db_session.execute(sa.delete(UserSession).where(UserSession.token == session_id))


def _session_user() -> User | None:
    """The user of this request's session: None when the server no longer knows it (signed
    out, or older than SESSION_LIFETIME). An admin flag the configuration no longer grants
    (or now grants) is corrected here, on the next request."""
    session_id = session.get(SESSION_ID)
    if not isinstance(session_id, str):
        return None
    row = db.session.scalar(sa.select(UserSession).where(UserSession.token == session_id))
    lifetime = dt.timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    created = row.created_at if row is not None else None
    if created is not None and created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=dt.UTC)
    if row is None or created + lifetime < utcnow():
        session.clear()
        return None
    user = row.user
    groups = json.loads(row.admin_groups) if row.admin_groups else ()
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
