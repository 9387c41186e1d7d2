"""The write half of the token backfill: resolved keys, committed ``batch_size`` at a time.

Kept apart from :mod:`app.services.backfill` (which decides, from LiteLLM alone) because this is
the only part that touches the database, and its rules are about concurrency rather than
LiteLLM: every write goes through :func:`store_token_if_missing` (rows still NULL only), a batch
is one transaction (on SQLite with the write lock taken up front), it is retried on lock
contention, and a write that changed nothing is explained (another writer, or a token already on
another row) instead of being counted.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import ApiKey
from app.services.backfill_results import BackfillReport, KeyResult, Outcome
from app.services.tokens import store_token_if_missing
from app.sqlite import BEGIN_IMMEDIATE

__all__ = ["BatchWriter"]

_DB_ATTEMPTS = 3  # a batch is retried on SQLite "database is locked" / PostgreSQL deadlock


class BatchWriter:
    """Buffers resolved pending keys and commits them ``batch_size`` at a time."""

    def __init__(self, report: BackfillReport, batch_size: int, dry_run: bool) -> None:
        self.report = report
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.buffer: list[KeyResult] = []
        self.in_flight = 0

    def add(self, result: KeyResult) -> None:
        if result.outcome is Outcome.RESOLVED and result.kind == "pending":
            self.buffer.append(result)
            if len(self.buffer) >= self.batch_size:
                self.flush()
        else:
            self.report.results.append(result)

    def written_message(self) -> str:
        r = self.report
        return f"{r.written} written in {r.batches_committed} committed batch(es)"

    def flush(self) -> None:
        """Write the buffer as one transaction (retried on lock contention), then commit."""
        batch, self.buffer = self.buffer, []
        if not batch:
            return
        self.in_flight = len(batch)
        for attempt in range(1, _DB_ATTEMPTS + 1):
            try:
                results = self._write(batch)
                break
            except OperationalError:
                db.session.rollback()
                if attempt == _DB_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)
        self.in_flight = 0
        self.report.results.extend(results)
        written = sum(1 for r in results if r.written)
        if not self.dry_run:
            self.report.written += written
            self.report.batches_committed += 1

    def _write(self, batch: list[KeyResult]) -> list[KeyResult]:
        if not self.dry_run:
            _begin_batch()
        holders: dict[str, int] = {}
        tokens = [r.token_id for r in batch]
        for i in range(0, len(tokens), 1000):
            chunk = tokens[i : i + 1000]
            for key_id, token in db.session.execute(
                sa.select(ApiKey.id, ApiKey.litellm_token_id).where(
                    ApiKey.litellm_token_id.in_(chunk)
                )
            ):
                holders[token] = key_id
        out: list[KeyResult] = []
        for r in batch:
            assert r.token_id is not None
            holder = holders.get(r.token_id)
            if holder is not None and holder != r.key_id:
                out.append(_with(r, Outcome.CONFLICT, f"token already on key #{holder}"))
            elif holder == r.key_id:
                out.append(_with(r, Outcome.RESOLVED, "already stored by another writer"))
            elif self.dry_run:
                out.append(_with(r, Outcome.RESOLVED, "dry run: not written"))
            elif store_token_if_missing(r.key_id, r.token_id, commit=False):
                out.append(KeyResult(**{**asdict(r), "written": True}))
            else:
                out.append(self._explain_lost_race(r))
        if self.dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        return out

    @staticmethod
    def _explain_lost_race(r: KeyResult) -> KeyResult:
        """The guarded UPDATE wrote nothing: someone filled the row, or the token is taken."""
        current = db.session.scalar(sa.select(ApiKey.litellm_token_id).where(ApiKey.id == r.key_id))
        if current == r.token_id:
            return _with(r, Outcome.RESOLVED, "already stored by another writer")
        if current is not None:
            return _with(r, Outcome.CONFLICT, "the row now holds another token id")
        holder = db.session.scalar(
            sa.select(ApiKey.id).where(ApiKey.litellm_token_id == r.token_id)
        )
        return _with(r, Outcome.CONFLICT, f"token already on key #{holder}")


def _begin_batch() -> None:
    """Start the batch's one transaction; on SQLite with the write lock taken up front.

    Two concurrent runs then queue on SQLite's busy timeout instead of deadlocking on the
    SHARED → RESERVED upgrade (app/sqlite.py). PostgreSQL ignores the option.
    """
    if not db.session().in_transaction():
        db.session.connection(execution_options={BEGIN_IMMEDIATE: True})


def _with(r: KeyResult, outcome: Outcome, detail: str) -> KeyResult:
    return KeyResult(r.key_id, r.alias, r.owner, outcome, r.kind, r.token_id, False, detail)
