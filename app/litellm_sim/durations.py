"""LiteLLM's duration strings: key lifetimes (``duration``), budget windows (``budget_duration``).

The two are parsed differently by LiteLLM, and the simulator copies both, including their failure
modes: a malformed ``duration`` escapes as an uncaught ValueError (HTTP 500) while a malformed
``budget_duration`` is rejected with a 400.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

# Word forms LiteLLM maps to a number and unit before parsing.
_WORDS = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}
# LiteLLM matches a prefix: "7days" is 7 d, "7x" is 7 with no unit.
_PREFIX = re.compile(r"(\d+)(mo|[smhdw]?)")
_BUDGET = re.compile(r"^(\d+)(mo|[smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _normalize(text: str) -> str:
    return _WORDS.get(text.strip().lower(), text)


def parse_duration(text: str) -> tuple[int, str]:
    """``(value, unit)`` the way LiteLLM's ``duration_in_seconds`` reads it; ValueError with
    LiteLLM's own message when it cannot."""
    text = _normalize(text)
    match = _PREFIX.match(text)
    if not match:
        raise ValueError("Invalid duration format")
    value, unit = int(match.group(1)), match.group(2)
    if not unit:
        raise ValueError(f"Unsupported duration unit, passed duration: {text}")
    return value, unit


def add_months(start: datetime, months: int) -> datetime:
    """Same day ``months`` later, clamped to the end of a shorter month."""
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def expires_at(start: datetime, duration: str) -> datetime:
    """A key's ``expires`` for lifetime ``duration`` (ValueError like LiteLLM when malformed)."""
    value, unit = parse_duration(duration)
    if unit == "mo":
        return add_months(start, value)
    return start + timedelta(seconds=value * _SECONDS[unit])


def check_budget_duration(text: str) -> None:
    """ValueError with LiteLLM's message unless ``text`` is a budget window it accepts."""
    if not _BUDGET.match(_normalize(text).strip()):
        raise ValueError(
            f"Invalid budget_duration '{text}'. Use a format like '1h', '24h', '7d', or '30d'."
        )


def _aligned(now: datetime, value: int, unit_seconds: int) -> datetime:
    """Next multiple of ``value`` units counted from midnight (LiteLLM's h/m/s alignment)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((now - midnight).total_seconds()) // unit_seconds
    return midnight + timedelta(seconds=(elapsed + value - elapsed % value) * unit_seconds)


def next_budget_reset(now: datetime, budget_duration: str) -> datetime:
    """When LiteLLM next resets a key's spend (``budget_reset_at``), as seen on 1.108.7:
    1d -> next midnight, 7d/1w -> next Monday, 30d/1mo -> the 1st of next month, other day counts
    -> today's midnight + N days, hours/minutes/seconds -> the next multiple from midnight."""
    value, unit = _BUDGET.match(_normalize(budget_duration).strip()).groups()  # type: ignore[union-attr]
    n = int(value)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        n, unit = n * 7, "d"
    if unit == "mo" or (unit == "d" and n == 30):
        return add_months(midnight.replace(day=1), max(1, n if unit == "mo" else 1))
    if unit == "d":
        if n == 1:
            return midnight + timedelta(days=1)
        if n == 7:
            return midnight + timedelta(days=7 - now.weekday())
        return midnight + timedelta(days=n)
    return _aligned(now, n, _SECONDS[unit])
