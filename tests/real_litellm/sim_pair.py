"""A simulator twin of a real proxy, for the differential tests: the same LiteLLM release, served
over real HTTP, given the same keys and usage, asked the same questions.

Keys are made by sending the same ``/key/generate`` (with a chosen secret) to both, so token
hashes, aliases and order agree. Usage is made on the real proxy by chat completions; its raw
daily-spend rows are read back one per page (``page_size=1`` pages over raw rows) and written
into the simulator unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from proxy_support import RealProxy

from app.litellm_sim import SimState, create_sim_app, run_in_thread
from app.litellm_sim.server import SimServer


@dataclass(frozen=True)
class Reply:
    """One answer: status code and decoded JSON (or the text when it is not JSON)."""

    status: int
    body: Any

    @classmethod
    def of(cls, response: requests.Response) -> Reply:
        try:
            return cls(response.status_code, response.json())
        except ValueError:
            return cls(response.status_code, response.text)


class Twin:
    """The real proxy and its simulator twin, asked the same thing with the same master key."""

    def __init__(self, proxy: RealProxy, server: SimServer) -> None:
        self.proxy = proxy
        self.server = server
        self.state: SimState = server.app.extensions["litellm_sim"]

    def _send(self, base_url: str, method: str, path: str, **kwargs: Any) -> Reply:
        headers = {"Authorization": f"Bearer {self.proxy.master_key}", **kwargs.pop("headers", {})}
        response = requests.request(method, base_url + path, headers=headers, timeout=30, **kwargs)
        return Reply.of(response)

    def both(self, method: str, path: str, **kwargs: Any) -> tuple[Reply, Reply]:
        """``(real, simulated)`` answers to the same request."""
        real = self._send(self.proxy.base_url, method, path, **dict(kwargs))
        simulated = self._send(self.server.base_url, method, path, **dict(kwargs))
        return real, simulated

    def generate(self, **body: Any) -> tuple[Reply, Reply]:
        """The same ``/key/generate`` on both, with one fresh secret unless ``key`` is given."""
        body.setdefault("key", "sk-" + secrets.token_urlsafe(16))
        return self.both("POST", "/key/generate", json=body)

    def mirror_usage(self, token: str, day: str) -> int:
        """Copy the real proxy's raw daily-spend rows of ``token`` on ``day`` into the simulator;
        returns how many rows were copied."""
        copied, page = 0, 1
        while True:
            response = self.proxy.admin(
                "GET",
                "/user/daily/activity",
                params={
                    "start_date": day,
                    "end_date": day,
                    "api_key": token,
                    "page_size": 1,
                    "page": page,
                },  # fmt: skip
            )
            assert response.status_code == 200, response.text
            body = response.json()
            for result in body["results"]:
                self.state.add_usage(**raw_row(token, result))
                copied += 1
            if not body["metadata"].get("has_more"):
                return copied
            page += 1


def _only(breakdown: dict[str, Any], name: str) -> str | None:
    """The single key of a one-row breakdown, or None when the release has no such breakdown."""
    names = list(breakdown.get(name) or {})
    assert len(names) <= 1, f"{name} of one raw row: {names}"
    return names[0] if names else None


def raw_row(token: str, result: dict[str, Any]) -> dict[str, Any]:
    """``SimState.add_usage`` arguments for a daily-activity result that holds one raw row."""
    bd, metrics = result["breakdown"], result["metrics"]
    model = _only(bd, "models")
    entity = _only(bd, "entities")
    return {
        "token": token,
        "date": result["date"],
        "model": None if model == "unknown-model" else model,
        "model_group": _only(bd, "model_groups"),
        "provider": _only(bd, "providers"),
        "endpoint": _only(bd, "endpoints") or "/chat/completions",
        "user_id": "" if entity in (None, "Unassigned") else entity,
        **{
            name: metrics.get(name, 0)
            for name in (
                "spend",
                "prompt_tokens",
                "completion_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
                "successful_requests",
                "failed_requests",
                "total_response_time_ms",
                "timed_requests",
            )  # fmt: skip
        },
    }


def start_twin(proxy: RealProxy) -> Iterator[Twin]:
    """A fresh simulator imitating ``proxy``'s release, for one test (generator for fixtures)."""
    sim_app = create_sim_app(master_key=proxy.master_key, seed=None, version=proxy.version)
    server = run_in_thread(sim_app)
    try:
        yield Twin(proxy, server)
    finally:
        server.shutdown()
