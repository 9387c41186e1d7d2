"""Search, sort and pages for the admin usage tables (users, keys), done on the server.

An organisation has thousands of keys: the tables show one page at a time, filtered by a search
text and sorted by a column, with totals over every row that matches. Each table reads its own
query parameters (``<prefix>q``, ``<prefix>s``, ``<prefix>p``), so links and forms work without
JavaScript and one table's page survives a change in the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.ids import parse_id
from app.services.litellm import Metrics
from app.services.litellm.cache import MISSING, ParsedMemo

__all__ = ["PAGE_SIZE", "TablePage", "TableView", "table_page"]

PAGE_SIZE = 50
MAX_SEARCH = 200
# The matching rows, sorted, of the last few tables (the same rows, search and sort): paging
# through an organisation's 10,000 keys sorts them once.
_ORDERED = ParsedMemo(16)

Row = TypeVar("Row")

# Sort columns every table has; each table adds its name column ("email", "key", ...).
METRIC_SORTS: dict[str, Callable[[Any], Any]] = {
    "spend": lambda r: r.metrics.spend,
    "tokens": lambda r: r.metrics.total_tokens,
    "requests": lambda r: r.metrics.api_requests,
    "failed": lambda r: r.metrics.failed_requests,
}


@dataclass(frozen=True)
class TableView:
    """What one table shows: search text, sort column (``-`` first: descending), page."""

    prefix: str
    q: str = ""
    sort: str = "-spend"
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, str], prefix: str, sorts: Sequence[str]) -> TableView:
        """From the query string; an unknown sort or page falls back to the default (these
        come from links the portal made, so nothing typed is lost)."""
        q = " ".join((args.get(f"{prefix}q") or "").split())[:MAX_SEARCH]
        sort = args.get(f"{prefix}s") or "-spend"
        if sort.lstrip("-") not in sorts:
            sort = "-spend"
        page = parse_id(args.get(f"{prefix}p")) or 1
        return cls(prefix, q, sort, page)

    @property
    def column(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def params(self) -> dict[str, str]:
        """This table's query parameters that differ from the defaults."""
        params = {}
        if self.q:
            params[f"{self.prefix}q"] = self.q
        if self.sort != "-spend":
            params[f"{self.prefix}s"] = self.sort
        if self.page != 1:
            params[f"{self.prefix}p"] = str(self.page)
        return params

    def sort_param(self, column: str) -> dict[str, str | None]:
        """Link parameters that sort by ``column`` (again: the other way round), from page 1.
        Metrics sort high to low first, names A to Z."""
        if column == self.column:
            sort = column if self.descending else f"-{column}"
        else:
            sort = f"-{column}" if column in METRIC_SORTS else column
        return {f"{self.prefix}s": sort, f"{self.prefix}p": None}

    def page_param(self, page: int) -> dict[str, str]:
        return {f"{self.prefix}p": str(page)}


@dataclass(frozen=True)
class TablePage(Generic[Row]):
    """One page of a table, with the totals of every matching row."""

    rows: tuple[Row, ...]
    view: TableView
    matching: int
    total: int
    pages: int
    totals: Metrics

    @property
    def first_index(self) -> int:
        return (self.view.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1 if self.rows else 0


def table_page(
    rows: Sequence[Row],
    view: TableView,
    *,
    text: Callable[[Row], str],
    name_sorts: Mapping[str, Callable[[Row], Any]],
) -> TablePage[Row]:
    """Rows matching ``view.q`` (case-insensitive, in ``text(row)``), sorted, one page of them.

    Ties keep the rows' given order, so a page boundary never shuffles between two views.
    A page past the end shows the last page.
    """
    needle = view.q.casefold()
    memo_key = (id(rows), needle, view.sort)
    found = _ORDERED.get(memo_key) if isinstance(rows, tuple) else MISSING
    if found is MISSING or found[0] is not rows:
        matching = [r for r in rows if needle in text(r).casefold()] if needle else list(rows)
        key = {**METRIC_SORTS, **name_sorts}[view.column]
        matching.sort(key=key, reverse=view.descending)
        found = (rows, matching, Metrics.sum(r.metrics for r in matching))
        if isinstance(rows, tuple):  # the memo holds ``rows``, so its id stays theirs
            _ORDERED.put(memo_key, found)
    _rows, matching, totals = found
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(view.page, pages)
    if page != view.page:
        view = TableView(view.prefix, view.q, view.sort, page)
    start = (page - 1) * PAGE_SIZE
    return TablePage(
        rows=tuple(matching[start : start + PAGE_SIZE]),
        view=view,
        matching=len(matching),
        total=len(rows),
        pages=pages,
        totals=totals,
    )


USER_SORTS: dict[str, Callable[[Any], Any]] = {
    "email": lambda r: r.email.casefold(),
    "keys": lambda r: r.keys,
}
KEY_SORTS: dict[str, Callable[[Any], Any]] = {
    "key": lambda r: r.label.casefold(),
    "owner": lambda r: r.email.casefold(),
}


def table_views(args: Mapping[str, str]) -> tuple[TableView, TableView]:
    """The users table's view (``u…`` parameters) and the keys table's (``k…``)."""
    return (
        TableView.parse(args, "u", [*METRIC_SORTS, *USER_SORTS]),
        TableView.parse(args, "k", [*METRIC_SORTS, *KEY_SORTS]),
    )


def users_table(rows: Sequence[Any], view: TableView) -> TablePage:
    """The admin users table: search by email."""
    return table_page(rows, view, text=lambda r: r.email, name_sorts=USER_SORTS)


def keys_table(rows: Sequence[Any], view: TableView) -> TablePage:
    """The admin keys table: search by key name, LiteLLM alias or owner's email."""
    return table_page(
        rows, view, text=lambda r: f"{r.label} {r.alias} {r.email}", name_sorts=KEY_SORTS
    )
