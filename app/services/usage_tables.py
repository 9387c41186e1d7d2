"""Sorting the usage tables (models, providers, keys) by any column, from the ``sort`` query
value: a column of ``usage_query.SORT_COLUMNS``, ``-`` first for descending."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.services.usage_query import DEFAULT_SORT


def sort_rows(rows: Iterable[Any], sort: str = DEFAULT_SORT) -> list[Any]:
    """``rows`` (NamedRow or KeyUsageRow) in the order ``sort`` asks for; ties by name."""
    column = sort.removeprefix("-")
    descending = sort.startswith("-")

    def name(row: Any) -> str:
        return (getattr(row, "label", None) or getattr(row, "name", "")).casefold()

    ordered = sorted(rows, key=name)
    if column == "name":
        return list(reversed(ordered)) if descending else ordered
    return sorted(ordered, key=lambda row: getattr(row.metrics, column), reverse=descending)


def next_sort(current: str, column: str) -> str:
    """The ``sort`` value of a column header link: the other direction when the column is
    already the sort column, else descending for numbers (biggest first) and A→Z for names."""
    if current.removeprefix("-") == column:
        return column if current.startswith("-") else f"-{column}"
    return column if column == "name" else f"-{column}"


def aria_sort(current: str, column: str) -> str | None:
    """``aria-sort`` for a header: ``ascending``/``descending`` on the sort column only."""
    if current.removeprefix("-") != column:
        return None
    return "descending" if current.startswith("-") else "ascending"
