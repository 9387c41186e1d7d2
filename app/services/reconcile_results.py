"""What ``flask reconcile-keys`` reports: a :class:`KeyResult` per key, a :class:`ReconcileReport`.

Shared by the run (:mod:`app.services.reconcile`) and the click command
(:mod:`app.reconcile_cli`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["DRIFT_LEFT", "KeyResult", "Outcome", "ReconcileReport"]


class Outcome(StrEnum):
    IN_SYNC = "in_sync"
    UPDATED = "updated"  # spend/budget/expiry/models/blocked differed: portal copy updated
    EXPIRED = "expired"  # expired in LiteLLM (portal copy updated)
    BLOCKED = "blocked"  # blocked in LiteLLM (portal copy updated)
    MISSING = "missing"  # LiteLLM no longer has it: marked "deleted in LiteLLM", history kept
    ORPHAN = "orphan"  # a LiteLLM key named like a portal key of a portal user, no portal row
    ADOPTED = "adopted"  # an orphan made by a portal request that timed out: now a portal key
    ORPHAN_DELETED = "orphan_deleted"  # --delete-orphans: a portal-made orphan deleted
    REVOKED_BUT_LIVE = "revoked_but_live"  # revoked in the portal, still working in LiteLLM
    OWNER_MISMATCH = "owner_mismatch"  # LiteLLM has the alias under another user_id
    TOKEN_MISMATCH = "token_mismatch"  # LiteLLM has the alias with another token id
    # The alias holds one key of the same owner with a token no portal key has: regenerated
    # outside the portal; that token is now the key's current one (lineage, audit).
    REGENERATED = "regenerated"


# Outcomes that leave the two systems apart after the run (exit status 1).
DRIFT_LEFT = frozenset(
    {Outcome.ORPHAN, Outcome.REVOKED_BUT_LIVE, Outcome.OWNER_MISMATCH, Outcome.TOKEN_MISMATCH}
)


@dataclass(frozen=True)
class KeyResult:
    """One key's outcome. ``key_id`` is None for LiteLLM keys without a portal row (orphans).
    ``repair`` says the run changed (or, in a dry run, would change) something for this key;
    ``written`` that this run's write took effect (False when another run or the portal got
    there first, and always in a dry run). ``changes`` lists the fields that differed, as
    ``field: portal -> LiteLLM``."""

    outcome: Outcome
    alias: str | None
    owner: str | None
    token_id: str | None = None
    key_id: int | None = None
    detail: str = ""
    changes: tuple[str, ...] = ()
    repair: bool = False
    written: bool = False


@dataclass
class ReconcileReport:
    """The whole run: per-key results, what it cost in LiteLLM calls and, if it stopped, why."""

    dry_run: bool = False
    mode: str = "none"  # "global" or "per-user" sweep
    results: list[KeyResult] = field(default_factory=list)
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
    def drift_left(self) -> list[KeyResult]:
        """Results still apart after this run (in a dry run: also everything it would repair)."""
        return [r for r in self.results if r.outcome in DRIFT_LEFT or (self.dry_run and r.repair)]

    @property
    def exit_status(self) -> int:
        """0 in sync or fixed, 1 drift left, 2 could not run."""
        if self.error is not None:
            return 2
        return 1 if self.drift_left else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return {
            "dry_run": self.dry_run,
            "mode": self.mode,
            "exit_status": self.exit_status,
            "error": self.error,
            "counts": self.counts(),
            "litellm_calls": self.litellm_calls,
            "pages": self.pages,
            "results": [
                {**asdict(r), "outcome": r.outcome.value, "changes": list(r.changes)}
                for r in self.results
            ],
        }
