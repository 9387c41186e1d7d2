"""LiteLLM client service: :class:`LiteLLMClient`, its errors and its typed results."""

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
from .models import (
    METRIC_NAMES,
    BreakdownEntry,
    DailyActivity,
    DayActivity,
    GeneratedKey,
    KeyInfo,
    KeyListResult,
    KeyPage,
    KeyRecord,
    KeyUsageEntry,
    Metrics,
    hash_secret,
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
    "LiteLLMUnavailable",
    "Metrics",
    "build_cache_backend",
    "hash_secret",
]
