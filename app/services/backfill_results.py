"""What ``flask backfill-tokens`` reports: a :class:`KeyResult` per row, a :class:`BackfillReport`.

Its own module because three parts share these types — the resolver and the run in
:mod:`app.services.backfill`, the batch writer in :mod:`app.services.backfill_writer` and the
click command in :mod:`app.backfill_cli` — and the writer must not import the module that drives
it. :mod:`app.services.backfill` re-exports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["OK_OUTCOMES", "BackfillReport", "KeyResult", "Outcome"]


class Outcome(StrEnum):
    RESOLVED = "resolved"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"
    CONFLICT = "conflict"
    OWNER_MISMATCH = "owner_mismatch"
    SKIPPED = "skipped"
    VERIFIED = "verified"  # --verify: the stored id is LiteLLM's id for the alias
    MISMATCH = "mismatch"  # --verify: LiteLLM has another id for the alias
    ADOPTED = "adopted"  # --verify: regenerated outside the portal; the new id joined the lineage


OK_OUTCOMES = frozenset({Outcome.RESOLVED, Outcome.SKIPPED, Outcome.VERIFIED, Outcome.ADOPTED})


@dataclass(frozen=True)
class KeyResult:
    """What happened to one api_keys row. ``kind`` is ``pending`` (NULL id) or ``verify``."""

    key_id: int
    alias: str
    owner: str
    outcome: Outcome
    kind: str = "pending"
    token_id: str | None = None
    written: bool = False
    detail: str = ""


@dataclass
class BackfillReport:
    """The whole run: per-key results, counts, LiteLLM cost and, if it stopped, why."""

    dry_run: bool = False
    mode: str = "none"  # "global", "per-user" or "none" (nothing to resolve)
    results: list[KeyResult] = field(default_factory=list)
    written: int = 0
    batches_committed: int = 0
    litellm_calls: int = 0
    pages: int = 0
    error: str | None = None

    def counts(self) -> dict[str, int]:
        """Results per outcome (every outcome present, zeros included)."""
        counts = {o.value: 0 for o in Outcome}
        for r in self.results:
            counts[r.outcome.value] += 1
        return counts

    @property
    def unresolved(self) -> list[KeyResult]:
        """Results that need a person: anything but resolved, skipped or verified."""
        return [r for r in self.results if r.outcome not in OK_OUTCOMES]

    @property
    def exit_status(self) -> int:
        """0 all resolved (or nothing to do), 1 some keys unresolved, 2 could not run."""
        if self.error is not None:
            return 2
        return 1 if self.unresolved else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return {
            "dry_run": self.dry_run,
            "mode": self.mode,
            "exit_status": self.exit_status,
            "error": self.error,
            "counts": self.counts(),
            "written": self.written,
            "batches_committed": self.batches_committed,
            "litellm_calls": self.litellm_calls,
            "pages": self.pages,
            "results": [{**asdict(r), "outcome": r.outcome.value} for r in self.results],
        }
