"""Header sign-in: the identity header and X-Forwarded-For count only from trusted proxies."""

from __future__ import annotations

import json
import logging

import pytest

from app.auth.session import client_address
from app.config import ProductionConfig

EMAIL = {"X-Forwarded-Email": "alice@example.com"}


@pytest.fixture
def header_app(build_app):
    """Build a header-mode app with the given TRUSTED_PROXY_IPS."""

    def build(trusted: tuple[str, ...]):
        return build_app(schema=True, AUTH_MODE="header", TRUSTED_PROXY_IPS=trusted)

    return build


def _get(app, peer: str, headers: dict[str, str], path: str = "/keys"):
    return app.test_client().get(path, headers=headers, environ_base={"REMOTE_ADDR": peer})


@pytest.mark.parametrize(
    ("trusted", "peer", "signed_in"),
    [
        (("10.0.0.5",), "10.0.0.5", True),
        (("10.0.0.5",), "10.0.0.6", False),
        (("10.0.0.0/24", "::1"), "10.0.0.77", True),
        (("10.0.0.0/24", "::1"), "::1", True),
        (("10.0.0.0/24",), "192.168.1.1", False),
        ((), "203.0.113.9", True),  # empty = any peer (outside production only)
        (("*",), "203.0.113.9", True),  # explicit: every peer is a proxy
    ],
)
def test_identity_header_only_from_trusted_peers(header_app, trusted, peer, signed_in):
    app = header_app(trusted)
    response = _get(app, peer, EMAIL)
    assert response.status_code == (200 if signed_in else 401)
    assert ("alice@example.com" in response.get_data(as_text=True)) is signed_in


def test_untrusted_peer_cannot_reach_admin_or_post(header_app, make_user):
    app = header_app(("10.0.0.5",))
    admin = {"X-Forwarded-Email": "admin@example.com"}
    assert _get(app, "10.0.0.5", admin, "/admin/usage").status_code == 200
    assert _get(app, "198.51.100.1", admin, "/admin/usage").status_code == 401
    # Forwarded-For naming the proxy does not make the peer a proxy.
    spoof = {**admin, "X-Forwarded-For": "10.0.0.5"}
    assert _get(app, "198.51.100.1", spoof, "/admin/usage").status_code == 401


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        # Untrusted peer: its X-Forwarded-For is ignored entirely.
        (("10.0.0.5",), "198.51.100.1", "1.2.3.4", "198.51.100.1"),
        # Trusted proxy: rightmost untrusted hop; what the client prepended is ignored.
        (("10.0.0.5",), "10.0.0.5", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        # Two trusted proxies in a row are skipped.
        (("10.0.0.0/24",), "10.0.0.5", "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        # Only proxies: the leftmost one is the best we know.
        (("10.0.0.0/24",), "10.0.0.5", "10.0.0.8, 10.0.0.9", "10.0.0.8"),
        # Garbage stops the walk at the last readable hop.
        (("10.0.0.0/24",), "10.0.0.5", "203.0.113.7, bogus, 10.0.0.9", "10.0.0.9"),
        # No header: the peer.
        (("10.0.0.5",), "10.0.0.5", None, "10.0.0.5"),
        # Empty TRUSTED_PROXY_IPS: the proxy on this host appended the rightmost entry.
        ((), "127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        # "*": every peer is a proxy, so only what the one in front appended counts.
        (("*",), "198.51.100.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        # IPv6
        (("::1",), "::1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address_from_forwarded_for(header_app, trusted, peer, forwarded, client):
    app = header_app(trusted)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with app.test_request_context("/", headers=headers, environ_base={"REMOTE_ADDR": peer}):
        assert client_address() == client


def test_request_log_carries_the_client_address(header_app, caplog):
    caplog.set_level(logging.INFO, logger="app.request")
    app = header_app(("10.0.0.5",))
    _get(app, "10.0.0.5", {**EMAIL, "X-Forwarded-For": "6.6.6.6, 203.0.113.7"})
    _get(app, "198.51.100.1", {**EMAIL, "X-Forwarded-For": "6.6.6.6"})
    addresses = [r.remote_addr for r in caplog.records if r.name == "app.request"]
    assert addresses == ["203.0.113.7", "198.51.100.1"]
    from app.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert line["remote_addr"] == "198.51.100.1"


def test_identity_header_from_untrusted_peer_is_logged_without_its_value(header_app, caplog):
    caplog.set_level(logging.INFO, logger="app.auth")
    app = header_app(("10.0.0.5",))
    forged = {"X-Forwarded-Email": "mallory@example.com FAKE admin signed in"}
    assert _get(app, "198.51.100.1", forged).status_code == 401
    warnings = [r for r in caplog.records if r.name == "app.auth"]
    assert len(warnings) == 1
    record = warnings[0]
    assert record.levelno == logging.WARNING
    assert "identity header from untrusted peer" in record.getMessage()
    assert "198.51.100.1" in record.getMessage()
    from app.logs import JsonFormatter

    line = JsonFormatter().format(record)
    assert "mallory" not in line and "FAKE" not in line
    assert json.loads(line)["remote_addr"] == "198.51.100.1"
    # A trusted proxy, or a request without the header, logs nothing.
    caplog.clear()
    assert _get(app, "10.0.0.5", EMAIL).status_code == 200
    assert _get(app, "198.51.100.1", {}).status_code == 401
    assert [r for r in caplog.records if r.name == "app.auth"] == []


# --- production: TRUSTED_PROXY_IPS is required; "*" is an explicit, logged opt-in ----------------


@pytest.fixture
def production_app(monkeypatch, tmp_path, sim_server, build_app):
    """A production app (header sign-in) with the given TRUSTED_PROXY_IPS."""

    def build(trusted: str):
        monkeypatch.setenv("PORTAL_ENV", "production")
        monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-tests")
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite")
        monkeypatch.setenv("LITELLM_BASE_URL", sim_server.base_url)
        monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-sim-master-0123456789")
        monkeypatch.setenv("HTTP_CACHE_URL", "memory")
        monkeypatch.delenv("AUTH_MODE", raising=False)
        monkeypatch.setenv("TRUSTED_PROXY_IPS", trusted)
        return build_app(ProductionConfig(), schema=True)

    return build


def _security_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.security" and r.levelno == logging.WARNING]


def test_star_trusts_every_peer_and_says_so_at_start_up(production_app, caplog):
    caplog.set_level(logging.INFO, logger="app")
    app = production_app("*")
    warnings = _security_warnings(caplog)
    assert len(warnings) == 1
    assert "TRUSTED_PROXY_IPS=*" in warnings[0].getMessage()
    assert "X-Forwarded-Email" in warnings[0].getMessage()
    for peer in ("203.0.113.9", "10.0.0.5", "::1"):
        response = _get(app, peer, EMAIL)
        assert response.status_code == 200, peer
        assert "alice@example.com" in response.get_data(as_text=True)


def test_cidr_in_production_still_trusts_only_those_peers(production_app, caplog):
    caplog.set_level(logging.INFO, logger="app")
    app = production_app("10.0.0.0/24")
    assert _security_warnings(caplog) == []
    assert _get(app, "10.0.0.77", EMAIL).status_code == 200
    assert _get(app, "10.0.1.1", EMAIL).status_code == 401
    admin = {"X-Forwarded-Email": "ops@example.com"}
    assert _get(app, "203.0.113.9", admin, "/admin/usage").status_code == 401
