"""Shared by the LiteLLM client's unit tests (imported by their conftest and test modules)."""

from __future__ import annotations

from app.services.litellm import LiteLLMClient

BASE = "http://litellm.test"
MASTER = "sk-master-TopSecret0123456789"


def make_client(**kwargs) -> LiteLLMClient:
    """A client on an in-memory cache with no retry backoff (tests must not sleep)."""
    kwargs.setdefault("cache_backend", "memory")
    kwargs.setdefault("backoff_factor", 0)
    return LiteLLMClient(kwargs.pop("base_url", BASE), kwargs.pop("master_key", MASTER), **kwargs)
