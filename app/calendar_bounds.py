"""The calendar the portal accepts in dates people type: 2000-01-01 to 2999-12-31.

Python's dates end at year 1 and 9999, and the portal computes with the day before a range (the
previous period) and the day after it (an exclusive end); at the calendar's ends those overflow.
LiteLLM was written in this century, so nothing outside this span can hold usage or events.
"""

from __future__ import annotations

import datetime as dt

EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
OUT_OF_RANGE = f"Dates must lie between {EARLIEST_DAY} and {LATEST_DAY}."


def parse_day(value: str) -> dt.date | None:
    """A YYYY-MM-DD date inside the accepted calendar, or None (the caller names the field)."""
    if len(value) != 10 or not value.isascii():
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= LATEST_DAY else None


def in_calendar(value: str) -> bool:
    """Whether a well-formed date lies inside the calendar (for a clearer message)."""
    try:
        return EARLIEST_DAY <= dt.date.fromisoformat(value) <= LATEST_DAY
    except ValueError:
        return True  # malformed, not out of range
