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
import re

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import User
from app.transactions import write_transaction

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

EMAIL_RE = re.compile(
    r"^[^@\s<>\"'(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
SESSION_USER = "user_id"
# Answered without looking anyone up: health checks must not depend on the database.
NO_USER_ENDPOINTS = frozenset({"main.healthz", "main.readyz", "static"})

log = logging.getLogger("app.auth")


def normalize_email(value: str) -> str | None:
    """The email lower-cased and trimmed, or None when it is not an email address."""
    value = (value or "").strip().lower()
    if len(value) > 320 or not EMAIL_RE.match(value):
        return None
    return value


def get_or_create_user(email: str, admin_by_group: bool = False) -> User:
    """Find the user by email, creating them (LiteLLM user_id = email) on first sign-in.

    ADMIN_EMAILS is the source of truth, plus (OIDC) membership of an OIDC_ADMIN_GROUPS group.
    """
    is_admin = email in current_app.config["ADMIN_EMAILS"] or admin_by_group
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


def start_session(user: User) -> None:
    """A fresh session for *user* (nothing from before sign-in survives), SESSION_LIFETIME long."""
    session.clear()
    session[SESSION_USER] = user.id
    session.permanent = True


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
    user_id = session.get(SESSION_USER)
    if user_id is not None:
        g.user = db.session.get(User, user_id)


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
