"""Service layer: the LiteLLM client and the portal's domain operations."""

from __future__ import annotations

import threading

from flask import Flask, current_app

_build_lock = threading.Lock()


def init_services(app: Flask) -> None:
    """Register the LiteLLM client slot; the client itself is built on first use."""
    app.extensions["litellm"] = None


def litellm_client():
    """The app's one LiteLLMClient (one cached session), built lazily so the factory does no I/O."""
    from app.config import litellm_settings
    from app.services.litellm import LiteLLMClient, build_cache_backend, cache_namespace

    app = current_app._get_current_object()
    client = app.extensions.get("litellm")
    if client is None:
        with _build_lock:
            client = app.extensions.get("litellm")
            if client is None:
                settings = litellm_settings(app.config)
                namespace = cache_namespace(settings.base_url, settings.master_key)
                cache = build_cache_backend(
                    app.config["HTTP_CACHE_URL"], app.instance_path, namespace
                )
                client = LiteLLMClient(settings, cache_backend=cache)
                app.extensions["litellm"] = client
    return client
