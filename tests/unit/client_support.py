"""Shared by the LiteLLM client's unit tests (imported by their conftest and test modules)."""

from __future__ import annotations

from app.services.litellm import LiteLLMClient, LiteLLMSettings

BASE = "http://litellm.test"
MASTER = "sk-master-TopSecret0123456789"


def make_client(**settings) -> LiteLLMClient:
    """A client on an in-memory cache (or ``cache_backend``) with no retry backoff (tests must
    not sleep); the other keyword arguments are :class:`LiteLLMSettings` fields."""
    cache_backend = settings.pop("cache_backend", "memory")
    settings.setdefault("backoff_factor", 0)
    settings.setdefault("base_url", BASE)
    settings.setdefault("master_key", MASTER)
    return LiteLLMClient(LiteLLMSettings(**settings), cache_backend=cache_backend)
