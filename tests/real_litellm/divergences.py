"""Where the simulator still answers differently from a real LiteLLM proxy, and why: the ONE list
the differential tests consult (the README's testing section mirrors it).

A comparison (``compare``) normalises values that differ by nature (timestamps, row ids), then
reports every remaining difference between the real and the simulated answer by JSON path. A
difference must match an entry below or the test fails; an entry marked ``always`` that no longer
shows up fails too, so the list cannot go stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class Divergence:
    """A known difference: in comparisons named like ``case`` (fnmatch), at JSON paths like
    ``path``, on real releases like ``versions``."""

    case: str
    path: str
    reason: str
    versions: str = "*"
    always: bool = False


KNOWN_DIVERGENCES: tuple[Divergence, ...] = (
    Divergence(
        "activity page *",
        "results*",
        "Paged over raw rows ordered by date then row id: LiteLLM's ids are random UUIDs, the "
        "simulator's are insertion order, so which rows of one day land on which page differs. "
        "Page counts, has_more and the merged totals of all pages are compared instead.",
    ),
    Divergence(
        "activity page *",
        "metadata.total_*",
        "Per-page totals follow the page's rows (see the row-order entry above).",
    ),
)

_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize(value: Any) -> Any:
    """Timestamps -> ``<datetime ...>`` keeping their form (``Z`` or an offset), UUIDs ->
    ``<uuid>``; everything else unchanged."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        match = _DATETIME.match(value)
        if match:
            return f"<datetime {match.group(2)}>"
        if _UUID.match(value):
            return "<uuid>"
    return value


def differences(real: Any, simulated: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every ``(path, real, simulated)`` where the two differ, by JSON path (``a.b[0].c``)."""
    if isinstance(real, dict) and isinstance(simulated, dict):
        out = []
        for key in list(real) + [k for k in simulated if k not in real]:
            sub = f"{path}.{key}" if path else str(key)
            out += differences(real.get(key, "<absent>"), simulated.get(key, "<absent>"), sub)
        return out
    if isinstance(real, list) and isinstance(simulated, list) and len(real) == len(simulated):
        out = []
        for i, (a, b) in enumerate(zip(real, simulated, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    # 1 and 1.0 are the same JSON number; bool is not a number here.
    same = real == simulated and type(real) is type(simulated)
    numbers = (int, float)
    if not same and isinstance(real, numbers) and isinstance(simulated, numbers):
        same = (
            not isinstance(real, bool)
            and not isinstance(simulated, bool)
            and (abs(real - simulated) <= 1e-9 * max(1.0, abs(real)))
        )
    return [] if same else [(path, real, simulated)]


def _applies(entry: Divergence, case: str, version: str) -> bool:
    return fnmatchcase(case, entry.case) and fnmatchcase(version, entry.versions)


def compare(case: str, version: str, real: Any, simulated: Any) -> None:
    """Fail unless every difference between the answers is a known divergence for ``case``."""
    entries = [e for e in KNOWN_DIVERGENCES if _applies(e, case, version)]
    diffs = differences(normalize(real), normalize(simulated))
    unexplained = [d for d in diffs if not any(fnmatchcase(d[0], e.path) for e in entries)]
    assert not unexplained, f"{case} (LiteLLM {version}): simulator differs at " + "; ".join(
        f"{p}: real={r!r} sim={s!r}" for p, r, s in unexplained[:12]
    )
    for entry in entries:
        if entry.always:
            assert any(fnmatchcase(d[0], entry.path) for d in diffs), (
                f"known divergence {entry.path!r} of {entry.case!r} no longer occurs: "
                "remove it from KNOWN_DIVERGENCES and the README"
            )
