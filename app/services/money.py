"""How the portal writes amounts of US dollars: one helper for every page, chart and table.

Two decimals from a cent up ($17.02, $1,234.50); below a cent only as many digits as show the
first two significant ones ($0.0042), since single requests often cost fractions of a cent;
zero is $0.00, never $0.0000. Templates use it as the ``money`` Jinja filter.
"""

from __future__ import annotations

import math

# LiteLLM stores spend as a double; sums of doubles carry noise in the 16th digit
# (1.2344639800000001). Ten decimals keep every stored fraction of a cent and drop the noise.
STORED_DECIMALS = 10
_MAX_DECIMALS = 8


def money_decimals(value: float) -> int:
    """Decimals to print ``value`` with: 2 from a cent up, more below a cent (at most 8)."""
    size = abs(value)
    # Not round(size, 2): $0.005 printed as "$0.01" would double it (an average per request).
    if size == 0 or size >= 0.00995:
        return 2
    return min(_MAX_DECIMALS, 1 - math.floor(math.log10(size)))


def format_money(value: float | None, decimals: int | None = None) -> str:
    """``$1,234.50``, ``$0.0042``, ``$0.00``, ``-$3.10``; ``decimals`` forces a precision
    (chart axes print every tick with the precision their step needs)."""
    if value is None:
        return "—"
    if decimals is None:
        decimals = money_decimals(value)
        if round(abs(value), decimals) == 0 and value != 0:
            return f"<${10**-_MAX_DECIMALS:.{_MAX_DECIMALS}f}"  # too small to print honestly
    text = f"{abs(value):,.{decimals}f}"
    negative = value < 0 and text.strip("0.,") != ""
    return f"{'-' if negative else ''}${text}"


def stored_spend(value: float) -> float:
    """A spend sum as LiteLLM stores spend: rounded to :data:`STORED_DECIMALS`, noise gone."""
    return round(value, STORED_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
