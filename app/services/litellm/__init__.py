"""LiteLLM client service: :class:`LiteLLMClient`, its settings, errors and typed results.

Layout: :mod:`.client` (the domain methods: keys, usage, health) over :mod:`.http` (session,
retries, timeouts, bulkhead, stale fallback, parsed memo, logging); :mod:`.cache` (backend,
namespace, memo); :mod:`.settings`; :mod:`.errors`; the answers' types and parsers in
:mod:`.key_results` and :mod:`.usage_results` (shared tolerant readers in :mod:`.parsing`).
Code outside this package imports from here, so that layout can change without touching callers.
"""

from .cache import build_cache_backend, cache_namespace
from .client import LiteLLMClient, covers_recent_usage
from .errors import (
    LiteLLMAuthError,
    LiteLLMBadResponse,
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMRejected,
    LiteLLMServerError,
    LiteLLMTimeout,
    LiteLLMTooLarge,
    LiteLLMUnavailable,
)
from .http import ClientStats
from .key_results import (
    GeneratedKey,
    KeyInfo,
    KeyListResult,
    KeyPage,
    KeyRecord,
    hash_secret,
)
from .settings import LiteLLMSettings
from .usage_results import (
    METRIC_NAMES,
    BreakdownEntry,
    DailyActivity,
    DayActivity,
    KeyUsageEntry,
    Metrics,
)

__all__ = [
    "METRIC_NAMES",
    "BreakdownEntry",
    "ClientStats",
    "DailyActivity",
    "DayActivity",
    "GeneratedKey",
    "KeyInfo",
    "KeyListResult",
    "KeyPage",
    "KeyRecord",
    "KeyUsageEntry",
    "LiteLLMAuthError",
    "LiteLLMBadResponse",
    "LiteLLMClient",
    "LiteLLMError",
    "LiteLLMNotFound",
    "LiteLLMRejected",
    "LiteLLMServerError",
    "LiteLLMSettings",
    "LiteLLMTimeout",
    "LiteLLMTooLarge",
    "LiteLLMUnavailable",
    "Metrics",
    "build_cache_backend",
    "cache_namespace",
    "covers_recent_usage",
    "hash_secret",
]
