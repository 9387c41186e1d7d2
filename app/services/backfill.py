"""Fill ``api_keys.litellm_token_id`` for keys created before the column existed.

The work happens in two halves that never overlap:

* **Resolve** (LiteLLM only). Every pending row's alias is looked up in ``GET /key/list``
  pages (size 100, full objects), with the fewest calls: one *global* sweep (no ``user_id``
  filter) when its page count — read from page 1, which is then reused — is not above the
  per-user estimate (at least one page per pending user, ``ceil(n/100)`` for a user with n
  pending keys); otherwise one sweep per pending user. A single pending user never needs the
  probe (their sweep cannot be longer than the global one).
* **Write** (database only). Decisions go through :func:`store_token_if_missing`, which only
  touches rows still NULL, and are committed every ``batch_size`` keys. In per-user mode a
  user's decisions are final after that user's sweep, so batches commit while the sweep
  goes on; in global mode decisions are final after the last page. This half lives in
  :mod:`app.services.backfill_writer`; the result types in :mod:`app.services.backfill_results`
  (both re-exported here where public).

Leftovers. A per-user sweep only shows the owner's keys, so an alias not found there may be
owned by somebody else (*owner mismatch*) or be absent. Aliases already seen on other pages
(e.g. the global probe page) are decided at once; the rest are confirmed with
``GET /key/list?key_alias=…`` only when there are at most ``leftover_lookup_limit`` (20) of them
and that is fewer than the global sweep's pages, otherwise with ONE global sweep. So
leftovers cost at most ``min(20, global pages)`` calls, never one call per key at scale. After a
global sweep, up to 20 not-found aliases are re-checked the same way: a page that shrank while
paging can hide a key, and a rerun picks up whatever is still missing.

Matching is exact (``==`` on the alias and on the owner's ``litellm_user_id``: case, spaces
and unicode as they are). Several LiteLLM keys with the alias *owned by the row's owner* make
the row ambiguous; keys with the alias owned only by others make it an owner mismatch. Repeated
items across pages are de-duplicated by token.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from requests_cache import DO_NOT_CACHE
from sqlalchemy.exc import SQLAlchemyError

from app.config import litellm_settings
from app.extensions import db
from app.models import ApiKey, User
from app.services.backfill_results import OK_OUTCOMES, BackfillReport, KeyResult, Outcome
from app.services.backfill_writer import BatchWriter
from app.services.external_tokens import adopt_token
from app.services.litellm import KeyPage, LiteLLMClient, LiteLLMError

__all__ = [
    "BACKFILL_MAX_PAGES",
    "DEFAULT_BATCH_SIZE",
    "LEFTOVER_LOOKUP_LIMIT",
    "OK_OUTCOMES",
    "BackfillError",
    "BackfillReport",
    "KeyResult",
    "Outcome",
    "build_backfill_client",
    "run_backfill",
]

DEFAULT_BATCH_SIZE = 500
KEY_LIST_PAGE_SIZE = 100  # what LiteLLMClient.iter_key_pages asks for (LiteLLM's maximum)
LEFTOVER_LOOKUP_LIMIT = 20
BACKFILL_MAX_PAGES = 100_000  # 10 M keys; the client's usual LITELLM_MAX_PAGES (50) is for views

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Row:
    key_id: int
    alias: str
    owner: str
    stored: str | None  # the token id already on the row (verify rows)

    @property
    def kind(self) -> str:
        return "pending" if self.stored is None else "verify"


class BackfillError(Exception):
    """Raised for bad input before any work starts (e.g. an unknown ``--user``)."""


def build_backfill_client(config: Any, instance_path: str) -> LiteLLMClient:
    """A client of its own for one run: same URL, key and retries as the app's, but
    ``/key/list`` is never cached (no stale pages, no stale fallback that would hide an outage),
    sweeps may be longer than the views' page cap, and reads get the maintenance timeout
    (``LITELLM_MAINTENANCE_TIMEOUT``), as nobody waits on this in a browser."""
    settings = litellm_settings(config, maintenance=True)
    max_pages = max(settings.max_pages, BACKFILL_MAX_PAGES)
    settings = replace(settings, key_list_ttl=DO_NOT_CACHE, max_pages=max_pages)
    return LiteLLMClient(settings, cache_backend="memory")


def run_backfill(
    client: LiteLLMClient,
    *,
    dry_run: bool = False,
    user_email: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    include_revoked: bool = False,
    verify: bool = False,
    progress: Progress | None = None,
    leftover_lookup_limit: int = LEFTOVER_LOOKUP_LIMIT,
) -> BackfillReport:
    """Resolve and store missing token ids; needs an app context. Never raises for LiteLLM or
    database failures: the report's ``error`` says what stopped it and how much was written."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = BackfillReport(dry_run=dry_run)
    calls_before = client.stats.upstream_calls
    writer = BatchWriter(report, batch_size, dry_run)
    try:
        rows, skipped = _load(user_email, include_revoked, verify)
        report.results.extend(skipped)
        if rows:
            resolver = _Resolver(client, rows, leftover_lookup_limit, progress, report)
            for decision in resolver.run():
                writer.add(decision)
        writer.flush()
        if not dry_run:
            _adopt_regenerated(report)
    except LiteLLMError as exc:
        _finish_after_litellm_error(report, writer, exc)
    except SQLAlchemyError as exc:
        db.session.rollback()
        report.error = (
            f"database error ({type(exc).__name__}): {writer.written_message()}; "
            f"the current batch of {writer.in_flight} was rolled back; a rerun continues"
        )
    except BaseException:
        db.session.rollback()
        raise
    finally:
        report.litellm_calls = client.stats.upstream_calls - calls_before
    report.results.sort(key=lambda r: r.key_id)
    return report


def _adopt_regenerated(report: BackfillReport) -> None:
    """``--verify``: a same-owner key under the alias with an unknown token id was regenerated
    outside the portal; its token joins the key's lineage as the current one (audited)."""
    for i, r in enumerate(report.results):
        key = db.session.get(ApiKey, r.key_id) if r.outcome is Outcome.MISMATCH else None
        if key is not None and r.token_id and adopt_token(key, r.token_id):
            detail = f"was {r.detail.removeprefix('stored ')}"
            report.results[i] = replace(r, outcome=Outcome.ADOPTED, written=True, detail=detail)
            report.written += 1


def _finish_after_litellm_error(
    report: BackfillReport, writer: BatchWriter, exc: LiteLLMError
) -> None:
    """Keys decided before LiteLLM failed are still written (a complete batch)."""
    try:
        writer.flush()
        saved = ""
    except SQLAlchemyError as db_exc:
        db.session.rollback()
        saved = f"; the last batch was rolled back ({type(db_exc).__name__})"
    report.error = f"LiteLLM failed: {exc}; {writer.written_message()}{saved}; a rerun continues"


def _load(
    user_email: str | None, include_revoked: bool, verify: bool
) -> tuple[list[_Row], list[KeyResult]]:
    """Rows to resolve (and to verify), plus the revoked ones reported as skipped."""
    query = (
        sa.select(ApiKey.id, ApiKey.alias, User.litellm_user_id, ApiKey.litellm_token_id,
                  ApiKey.revoked_at)
        .join(User, ApiKey.user_id == User.id)
        .order_by(ApiKey.id)
    )  # fmt: skip
    if not verify:
        query = query.where(ApiKey.litellm_token_id.is_(None))
    if user_email is not None:
        user_id = db.session.scalar(sa.select(User.id).where(User.email == user_email))
        if user_id is None:
            user_id = db.session.scalar(
                sa.select(User.id).where(sa.func.lower(User.email) == user_email.lower())
            )
        if user_id is None:
            raise BackfillError(f"no portal user with e-mail {user_email!r}")
        query = query.where(ApiKey.user_id == user_id)
    rows: list[_Row] = []
    skipped: list[KeyResult] = []
    for key_id, alias, owner, stored, revoked_at in db.session.execute(query):
        if revoked_at is not None and not include_revoked:
            if stored is None:
                skipped.append(KeyResult(key_id, alias, owner, Outcome.SKIPPED, detail="revoked"))
            continue
        rows.append(_Row(key_id, alias, owner, stored))
    db.session.rollback()  # end the read transaction: no lock held while LiteLLM is slow
    return rows, skipped


class _Resolver:
    """Turns rows into decided :class:`KeyResult`s with as few ``/key/list`` calls as it can."""

    def __init__(
        self,
        client: LiteLLMClient,
        rows: list[_Row],
        leftover_limit: int,
        progress: Progress | None,
        report: BackfillReport,
    ) -> None:
        self.client = client
        self.rows = rows
        self.leftover_limit = leftover_limit
        self.progress = progress
        self.report = report
        self.wanted = {r.alias for r in rows}
        # alias -> {token: owner}: only aliases we look for, so memory follows the pending set.
        self.seen: dict[str, dict[str, str | None]] = defaultdict(dict)
        self.global_pages: int | None = None
        self.done = 0

    # -- paging -------------------------------------------------------------------------------
    def _take(self, page: KeyPage) -> None:
        self.report.pages += 1
        for record in page.keys:
            if record.key_alias in self.wanted:
                self.seen[record.key_alias][record.token] = record.user_id

    def _tick(self, total: int) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(total, self.done))

    def _sweep(self, pages: Iterable[KeyPage], first: KeyPage | None = None) -> None:
        if first is not None:
            self._take(first)
            self._tick(max(first.total_pages, 1))
        for page in pages:
            self._take(page)
            self._tick(max(page.total_pages, 1))

    # -- deciding -----------------------------------------------------------------------------
    def _decide(self, row: _Row, *, final: bool) -> KeyResult | None:
        """The result for ``row`` from what has been seen; None when it needs more looking."""
        candidates = self.seen.get(row.alias, {})
        owned = sorted(t for t, owner in candidates.items() if owner == row.owner)
        if len(owned) > 1:
            return _result(row, Outcome.AMBIGUOUS, detail=f"{len(owned)} LiteLLM keys")
        if len(owned) == 1:
            token = owned[0]
            if row.stored is None:
                return _result(row, Outcome.RESOLVED, token)
            if row.stored == token:
                return _result(row, Outcome.VERIFIED, token)
            return _result(row, Outcome.MISMATCH, token, detail=f"stored {row.stored}")
        if candidates:
            others = sorted({str(o) for o in candidates.values()})
            return _result(row, Outcome.OWNER_MISMATCH, detail="owned by " + ", ".join(others))
        if final:
            return _result(row, Outcome.NOT_FOUND)
        return None

    def run(self) -> Iterator[KeyResult]:
        """Yield each row's result as soon as it is final."""
        by_owner: dict[str, list[_Row]] = defaultdict(list)
        for row in self.rows:
            by_owner[row.owner].append(row)
        estimate = sum(max(1, math.ceil(len(v) / KEY_LIST_PAGE_SIZE)) for v in by_owner.values())
        leftovers: list[_Row] = []
        if len(by_owner) > 1:
            sweep = self.client.iter_key_pages(None)
            first = next(sweep)
            self.global_pages = max(first.total_pages, 1)
            if self.global_pages <= estimate:
                self.report.mode = "global"
                self._sweep(sweep, first)
                for row in self.rows:
                    result = self._decide(row, final=False)
                    if result is None:
                        leftovers.append(row)
                    else:
                        yield result
                yield from self._confirm(leftovers, after_global=True)
                return
            sweep.close()
            self._take(first)  # its aliases may settle leftovers without another call
        self.report.mode = "per-user"
        for owner, owner_rows in by_owner.items():
            for page in self.client.iter_key_pages(owner):
                self._take(page)
            self._tick(len(by_owner))
            for row in owner_rows:
                result = self._decide(row, final=False)
                if result is None:
                    leftovers.append(row)
                else:
                    yield result
        yield from self._confirm(leftovers, after_global=False)

    def _confirm(self, leftovers: list[_Row], *, after_global: bool) -> Iterator[KeyResult]:
        """Settle aliases no sweep showed: a few alias lookups, or one global sweep, bounded."""
        if not leftovers:
            return
        few = len(leftovers) <= self.leftover_limit
        if self.global_pages is not None:
            few = few and len(leftovers) < self.global_pages
        if few or after_global:
            if few:
                for row in leftovers:
                    for page in self.client.iter_key_pages(None, key_alias=row.alias):
                        self._take(page)
        else:
            self._sweep(self.client.iter_key_pages(None))
        for row in leftovers:
            result = self._decide(row, final=True)
            assert result is not None
            yield result


def _result(row: _Row, outcome: Outcome, token: str | None = None, detail: str = "") -> KeyResult:
    return KeyResult(row.key_id, row.alias, row.owner, outcome, row.kind, token, False, detail)
