"""The portal as a user meets it: a gunicorn instance (``scripts/serve``) in production mode,
signed in by the ``X-Forwarded-Email`` header as behind the sign-in proxy, driven over HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa
from prod_support import Instance

SECRET_RE = re.compile(r"sk-[A-Za-z0-9_-]{20,}")


@dataclass
class Portal:
    """A running portal, its environment (for ``flask`` commands) and its SQLite database."""

    instance: Instance
    env: dict[str, str]
    engine: sa.Engine

    @property
    def base_url(self) -> str:
        return self.instance.base_url

    def user(self, email: str) -> PortalUser:
        return PortalUser(self.base_url, email)


class PortalUser:
    """One signed-in person. The session cookie is Secure (production) and the test talks plain
    HTTP on loopback, so it is carried by hand, as the browser behind the TLS proxy would."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        self.email = email
        self.cookie: str | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-Forwarded-Email": self.email, **(extra or {})}
        if self.cookie:
            headers["Cookie"] = self.cookie
        return headers

    def _keep_cookie(self, response: requests.Response) -> requests.Response:
        found = re.search(r"(session=[^;]+)", response.headers.get("Set-Cookie", ""))
        if found:
            self.cookie = found.group(1)
        return response

    def get(self, path: str, **params: Any) -> requests.Response:
        response = requests.get(
            self.base_url + path, params=params, headers=self._headers(), timeout=60
        )
        return self._keep_cookie(response)

    def post(self, path: str, data: dict[str, str], csrf: str) -> requests.Response:
        response = requests.post(
            self.base_url + path,
            data={**data, "csrf_token": csrf},
            headers=self._headers(),
            timeout=60,
            allow_redirects=False,
        )
        return self._keep_cookie(response)

    # --- what the pages offer -----------------------------------------------------------------

    def create_key(self, label: str, **fields: str) -> requests.Response:
        """Fill in and submit the create form (``max_budget``, ``duration``, ``models``)."""
        page = self.get("/keys")
        assert page.status_code == 200, page.text
        csrf = _field(page.text, r'name="csrf-token" content="([^"]+)"')
        idempotency = _field(page.text, r'name="idempotency_token" value="([^"]+)"')
        return self.post("/keys", {"name": label, "idempotency_token": idempotency, **fields}, csrf)

    def key_row(self, label: str) -> str:
        """The HTML of one row of the /keys table."""
        page = self.get("/keys")
        assert page.status_code == 200, page.text
        name = rf'<th scope="row" class="key-name"><a class="key-label"[^>]*>{re.escape(label)}</a>'
        return _field(page.text, rf'(<tr id="key-row-\d+"[^>]*>\s*{name}</th>.*?</tr>)')

    def key_id(self, label: str) -> int:
        """The portal's id of one of this user's keys, from the /keys page."""
        return int(_field(self.key_row(label), r'id="key-row-(\d+)"'))

    def revoke(self, key_id: int) -> requests.Response:
        """Open the confirmation, then confirm it."""
        confirm = self.get(f"/keys/{key_id}/revoke")
        assert confirm.status_code == 200, confirm.text
        csrf = _field(confirm.text, r'name="csrf_token" value="([^"]+)"')
        return self.post(f"/keys/{key_id}/revoke", {}, csrf)

    def rotate(self, key_id: int, grace: str) -> requests.Response:
        """Open the rotation step, then submit it with ``grace`` ("none", "1h", "24h")."""
        confirm = self.get(f"/keys/{key_id}/rotate")
        assert confirm.status_code == 200, confirm.text
        csrf = _field(confirm.text, r'name="csrf_token" value="([^"]+)"')
        seen = _field(confirm.text, r'name="rotation_mark" value="([^"]*)"')
        return self.post(f"/keys/{key_id}/rotate", {"grace": grace, "rotation_mark": seen}, csrf)

    def export_json(self, key: int | str, start: str, end: str) -> dict[str, Any]:
        response = self.get("/usage/export.json", key=key, start_date=start, end_date=end)
        assert response.status_code == 200, response.text
        return response.json()

    def export_csv(self, key: int | str, start: str, end: str) -> str:
        response = self.get("/usage/export.csv", key=key, start_date=start, end_date=end)
        assert response.status_code == 200, response.text
        return response.text


def secret_in(response: requests.Response) -> str:
    """The one secret a create response shows."""
    (secret,) = set(SECRET_RE.findall(response.text))
    return secret


def _field(text: str, pattern: str) -> str:
    found = re.search(pattern, text, re.S)
    assert found, f"{pattern!r} not in the page"
    return found.group(1)
