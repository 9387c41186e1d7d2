"""Tolerant readers shared by the usage parsers (:mod:`.usage_results`) and the key parsers
(:mod:`.key_results`).

Parsing is tolerant on purpose (docs/litellm.md, "Answers read tolerantly"): a null or malformed
number is 0 or "not set" rather than an error, because LiteLLM versions disagree on which fields
they fill.
Only shapes that cannot be read at all raise :class:`ShapeError`, which the client turns into
``LiteLLMBadResponse``; so do counts and costs that no LiteLLM can mean: ``Infinity``, ``NaN``
(Python's ``json`` accepts both) and negative numbers. Checked here, once, they can never reach a
sum, a template or an export. These helpers live apart from both result families so the two
cannot drift into reading the same field two different ways.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["ShapeError", "as_number", "frozen_map", "opt_float", "opt_str", "parse_datetime"]


class ShapeError(ValueError):
    """A LiteLLM payload does not have the documented shape."""


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only view of a fresh dict (nobody else holds the dict, so it never changes)."""
    return MappingProxyType(dict(items) if items else {})


def as_number(value: Any, kind: type, name: str = "number") -> float | int:
    """``value`` as ``kind`` (int or float); null, bool and unreadable values are 0, because a
    counter LiteLLM did not fill means "nothing counted", not a broken answer. A non-finite or
    negative value raises :class:`ShapeError` (``name`` says which field)."""
    if value is None or isinstance(value, bool):
        return kind(0)
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return kind(0)
    if not isinstance(value, int | float):
        return kind(0)
    _check_count(value, name)
    return kind(value)


def _check_count(value: float | int, name: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ShapeError(f"{name} is {value!r}, not a finite number")
    if value < 0:
        raise ShapeError(f"{name} is negative ({value!r})")


def opt_str(value: Any) -> str | None:
    """``str(value)``, keeping null as None so "not set" stays distinguishable from ``"None"``."""
    return None if value is None else str(value)


def opt_float(value: Any) -> float | None:
    """A float, or None for null, bool, unreadable, non-finite or negative values: a bad budget
    is no budget (an infinite one is no limit either)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_datetime(value: Any) -> dt.datetime | None:
    """ISO-8601 (``Z`` or offset) → aware UTC datetime; naive values are taken as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ShapeError(f"invalid datetime {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
