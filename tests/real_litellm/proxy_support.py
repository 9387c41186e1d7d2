"""A real LiteLLM proxy started by ``scripts/real-litellm``, as the tests talk to it directly.

Each proxy comes from environment variables with one prefix: ``REAL_LITELLM_URL``,
``REAL_LITELLM_MASTER_KEY`` and ``REAL_LITELLM_VERSION`` for the current release, the same with
``REAL_LITELLM_175_`` for the 1.75.0 one (before ``/user/daily/activity/aggregated`` existed).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from app.services.litellm import METRIC_NAMES

T = TypeVar("T")

# name → (environment prefix, how to start one); the name is also the test id.
PROXY_SLOTS = {
    "current": ("REAL_LITELLM", "scripts/real-litellm start"),
    "paginated": (
        "REAL_LITELLM_175",
        "REAL_LITELLM_VERSION=1.75.0 REAL_LITELLM_ENV_PREFIX=REAL_LITELLM_175 "
        "REAL_LITELLM_PORT=4401 scripts/real-litellm start",
    ),
}
# LiteLLM writes spend and daily activity in batches (every REAL_LITELLM_BATCH_WRITE_AT seconds,
# default 10, plus its own jitter); a poll for them gives up after this long.
USAGE_WAIT_SECONDS = float(os.environ.get("REAL_LITELLM_USAGE_WAIT", "90"))
MOCK_MODELS = ("mock-gpt", "mock-claude")  # configured by scripts/real-litellm


def unique_name(prefix: str) -> str:
    """A name no other test (or earlier run against the same proxy) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_email(prefix: str) -> str:
    """A new person's email (their LiteLLM user id in the portal)."""
    return f"{unique_name(prefix)}@example.com"


def token_of(secret: str) -> str:
    """LiteLLM's token id of a key: the sha256 of its secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float) -> T:
    """Call ``fetch`` until ``done(result)``; fail naming ``what`` and the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f}s; last: {result!r}")
        time.sleep(1)


@dataclass(frozen=True)
class RealProxy:
    """One running proxy: where it is, its master key, its LiteLLM version."""

    name: str
    base_url: str
    master_key: str
    version: str

    @classmethod
    def from_env(cls, name: str) -> RealProxy | None:
        prefix, _ = PROXY_SLOTS[name]
        url = os.environ.get(f"{prefix}_URL", "").rstrip("/")
        key = os.environ.get(f"{prefix}_MASTER_KEY", "")
        if not url or not key:
            return None
        return cls(name, url, key, os.environ.get(f"{prefix}_VERSION", "unknown"))

    @property
    def release(self) -> tuple[int, int]:
        """(major, minor) of the version; an unknown version counts as the newest."""
        try:
            major, minor = (int(part) for part in self.version.split(".")[:2])
        except ValueError:
            return (999, 0)
        return (major, minor)

    @property
    def has_aggregated(self) -> bool:
        """``/user/daily/activity/aggregated`` exists from LiteLLM 1.76.0 on."""
        return self.release >= (1, 76)

    @property
    def filters_activity_by_user(self) -> bool:
        """Whether ``/user/daily/activity`` honours ``user_id`` for the master key: 1.75.0 has
        no such parameter and answers with every user's rows."""
        return self.release >= (1, 76)

    # --- raw calls ----------------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call with the master key (what the portal's server does)."""
        headers = {"Authorization": f"Bearer {self.master_key}", **kwargs.pop("headers", {})}
        return requests.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def chat(self, secret: str, model: str = "mock-gpt", text: str = "hello") -> requests.Response:
        """A chat completion with a virtual key, as the key's holder would send it."""
        return requests.post(
            f"{self.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            # With max_tokens, LiteLLM (1.108) reserves that many output tokens' cost against the
            # key's budget while the request runs; without it, 16,384 tokens' worth, more than
            # a small test budget at the mock prices (the request then fails with 422).
            json={
                "model": model,
                "messages": [{"role": "user", "content": text}],
                "max_tokens": 64,
            },
            timeout=60,
        )

    # --- convenience --------------------------------------------------------------------------

    def generate_key(self, **body: Any) -> dict[str, Any]:
        """``/key/generate`` with the master key; the answer (``key`` is the secret)."""
        response = self.admin("POST", "/key/generate", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def key_info(self, secret_or_token: str) -> dict[str, Any]:
        """``/key/info``'s ``info`` object for a key."""
        response = self.admin("GET", "/key/info", params={"key": secret_or_token})
        assert response.status_code == 200, response.text
        return response.json()["info"]

    def daily_activity(self, start: str, end: str, **filters: str) -> list[dict[str, Any]]:
        """Every row of ``/user/daily/activity`` (all pages) for the range and filters."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.admin(
                "GET",
                "/user/daily/activity",
                params={"start_date": start, "end_date": end, "page": page, **filters},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            rows.extend(body["results"])
            if page >= body["metadata"].get("total_pages", 1):
                return rows
            page += 1

    def activity_totals(self, start: str, end: str, **filters: str) -> dict[str, float]:
        """LiteLLM's own totals (``metadata.total_*``) of daily activity, named like the
        portal's metrics (``spend``, ``prompt_tokens``, …, ``failed_requests``)."""
        response = self.admin(
            "GET", "/user/daily/activity", params={"start_date": start, "end_date": end, **filters}
        )
        assert response.status_code == 200, response.text
        meta = response.json()["metadata"]
        return {
            name: meta[f"total_{name}" if name != "total_tokens" else name] for name in METRIC_NAMES
        }

    def wait_for_requests(
        self, token: str, start: str, end: str, count: int, timeout: float = USAGE_WAIT_SECONDS
    ) -> list[dict[str, Any]]:
        """Poll daily activity for one key until its successful requests reach ``count``."""

        def fetch() -> list[dict[str, Any]]:
            return self.daily_activity(start, end, api_key=token)

        return wait_for(
            fetch,
            lambda rows: requests_of(rows, token) >= count,
            f"{count} requests of key {token[:12]}… in LiteLLM's daily activity",
            timeout,
        )


def requests_of(rows: list[dict[str, Any]], token: str) -> int:
    """Successful requests of one key summed over daily-activity rows (per-key breakdown)."""
    total = 0
    for row in rows:
        api_keys = row.get("breakdown", {}).get("api_keys", {})
        total += api_keys.get(token, {}).get("metrics", {}).get("successful_requests", 0)
    return total
