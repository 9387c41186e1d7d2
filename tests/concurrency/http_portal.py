"""A browser-like HTTP client for a portal served over real HTTP, and a way to fire requests
at the same moment from several threads."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import requests

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')
T = TypeVar("T")


class PortalUser:
    """One person's cookie jar and CSRF token against ``base_url`` (dev sign-in)."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        self.email = email
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=60, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs) -> requests.Response:
        data = {"csrf_token": self.csrf, **data}
        return self.http.post(self.base_url + path, data=data, timeout=60, **kwargs)

    def fetch_csrf(self) -> str:
        """A CSRF token for this session, from the sign-in page (no database, no LiteLLM)."""
        page = self.get("/auth/sign-in")
        self.csrf = CSRF_RE.search(page.text).group(1)
        return self.csrf

    def sign_in(self) -> requests.Response:
        """POST the dev sign-in form; afterwards ``csrf`` belongs to the signed-in session."""
        self.fetch_csrf()
        response = self.post("/auth/sign-in", {"email": self.email}, allow_redirects=False)
        if response.status_code == 303:
            self.fetch_csrf()
        return response

    def create_key(self, label: str, **fields: str) -> requests.Response:
        """POST the create form with a fresh one-time token (as a fresh rendering would)."""
        form = {"name": label, "idempotency_token": secrets.token_urlsafe(24), **fields}
        return self.post("/keys", form, headers={"HX-Request": "true"})

    def close(self) -> None:
        self.http.close()


def at_once(actions: list[Callable[[], T]]) -> list[T]:
    """Run every action in its own thread, released together by a barrier; results in order."""
    barrier = threading.Barrier(len(actions))

    def run(action: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return action()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        futures = [pool.submit(run, action) for action in actions]
        return [future.result() for future in futures]
