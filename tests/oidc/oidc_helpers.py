"""Driving the OpenID flow over HTTP (requests), and a mix-up proxy in front of the provider."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

CLIENT_SECRET = "portal-test-secret"  # every client of tests/oidc/provider/server.mjs
ADMIN_GROUP = "portal-admins"
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def follow_to_callback(http: requests.Session, portal_url: str, login: str, path="/auth/sign-in"):
    """From the portal's sign-in through the provider's login page (typing *login*), up to the
    provider's redirect back to the portal; returns that callback URL, not yet visited."""
    url = urljoin(portal_url, path)
    for _ in range(12):
        if url.startswith(f"{portal_url}/auth/callback"):
            return url
        response = http.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and 'name="login"' in response.text:
            action = FORM_ACTION.search(response.text).group(1)
            response = http.post(
                urljoin(url, action),
                data={"prompt": "login", "login": login, "password": "any"},
                allow_redirects=False,
                timeout=10,
            )
        assert response.is_redirect, (response.status_code, response.text[:500])
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"the flow did not come back to the portal; last URL {url}")


def sign_in(http: requests.Session, portal_url: str, login: str) -> requests.Response:
    """The whole flow; returns the portal's answer to the callback."""
    callback = follow_to_callback(http, portal_url, login)
    return http.get(callback, allow_redirects=False, timeout=10)


def csrf_from(html: str) -> str:
    return CSRF_FIELD.search(html).group(1)


class MixUpProxy:
    """Stands between the portal and the real provider and swaps the client: the browser is sent
    to the provider as *swap_to*, and the portal's token request is authenticated as *swap_to*
    (same secret). The provider then issues a real, correctly signed ID token for another
    audience. With ``swap_to=None`` it only passes through (to stop it mid-flow: provider down).
    """

    def __init__(self, issuer: str, swap_to: str | None, end_session: bool = True) -> None:
        self.issuer = issuer.rstrip("/")
        self.swap_to = swap_to
        self.end_session = end_session  # False: a provider without RP-initiated logout
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    upstream = requests.get(proxy.issuer + self.path, timeout=5).json()
                    upstream["authorization_endpoint"] = proxy.url + "/authorize"
                    upstream["token_endpoint"] = proxy.url + "/token"
                    if not proxy.end_session:
                        del upstream["end_session_endpoint"]
                    body = json.dumps(upstream).encode()
                    self._send(200, body, [("Content-Type", "application/json")])
                elif parts.path == "/authorize":
                    query = dict(parse_qsl(parts.query))
                    if proxy.swap_to:
                        query["client_id"] = proxy.swap_to
                    target = urlsplit(proxy.issuer + "/auth")
                    location = urlunsplit(target._replace(query=urlencode(query)))
                    self._send(302, headers=[("Location", location)])
                else:
                    self._send(404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {"Content-Type": self.headers["Content-Type"]}
                headers["Authorization"] = self.headers.get("Authorization", "")
                if proxy.swap_to:
                    basic = base64.b64encode(f"{proxy.swap_to}:{CLIENT_SECRET}".encode()).decode()
                    headers["Authorization"] = f"Basic {basic}"
                upstream = requests.post(
                    proxy.issuer + "/token", data=body, headers=headers, timeout=5
                )
                self._send(
                    upstream.status_code,
                    upstream.content,
                    [("Content-Type", upstream.headers.get("Content-Type", "application/json"))],
                )

        return Handler
