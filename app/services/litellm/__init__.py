"""LiteLLM client service: :class:`LiteLLMClient`, its errors and its typed results.

The results live in :mod:`.usage_models` and :mod:`.key_models` (their shared tolerant readers in
:mod:`.parsing`); code outside this package imports them from here, so that layout can change
without touching callers.
"""

from .client import ClientStats, LiteLLMClient, build_cache_backend
from .errors import (
    LiteLLMAuthError,
    LiteLLMBadResponse,
    LiteLLMError,
    LiteLLMNotFound,
    LiteLLMRejected,
    LiteLLMServerError,
    LiteLLMUnavailable,
)
from .key_models import (
    GeneratedKey,
    KeyListResult,
    KeyPage,
    KeyRecord,
    hash_secret,
)
from .usage import covers_recent_usage
from .usage_models import (
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
    "LiteLLMUnavailable",
    "Metrics",
    "build_cache_backend",
    "covers_recent_usage",
    "hash_secret",
]
