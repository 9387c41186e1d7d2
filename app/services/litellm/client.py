"""The LiteLLM client service used by views and CLI commands.

One :class:`LiteLLMClient` per app (``app.extensions["litellm"]``) owns one
``requests_cache.CachedSession``: auth header set once, GET-only retries, explicit
``(connect, read)`` timeouts, per-URL cache lifetimes, a stale-on-error fallback and one
structured log line per call (:mod:`.transport`). Domain verbs live in :mod:`.keys` and
:mod:`.usage`; everything LiteLLM sends is parsed in :mod:`.usage_models` or :mod:`.key_models`;
every failure leaves as a :class:`~.errors.LiteLLMError` subclass.
"""

from __future__ import annotations

from .keys import KeysMixin
from .transport import ClientStats, LiteLLMTransport, build_cache_backend
from .usage import UsageMixin

__all__ = ["ClientStats", "LiteLLMClient", "build_cache_backend"]


class LiteLLMClient(KeysMixin, UsageMixin, LiteLLMTransport):
    """Domain-level access to a LiteLLM proxy, authenticated with the master key.

    Construct with ``LiteLLMClient(base_url, master_key, cache_backend=..., ...)`` or
    ``LiteLLMClient.from_config(app.config, app.instance_path)``. See
    :class:`~.transport.LiteLLMTransport` for caching, retries and error handling.
    """
