"""Compare the portal's keys with LiteLLM's and repair what drifted (``flask reconcile-keys``).

The run has three steps that never overlap, so no transaction is open while LiteLLM works:

* **Load** (database): the portal users in scope, their keys, the token ids the portal knows
  (:func:`known_tokens`) and the request ids of key creations that timed out.
* **Sweep** (LiteLLM, :mod:`app.services.reconcile_sweep`): ``/key/list`` pages, global or
  per user as ``flask backfill-tokens`` chooses; keys it did not show are looked for again
  before anything is marked.
* **Decide and write** (database; LiteLLM only to delete orphans): per key, every write guarded
  by what was read (``WHERE`` the token is still the one compared, the key not revoked, not yet
  marked), so a second run at the same time or the portal serving meanwhile never has its
  writes overwritten. LiteLLM keys without a portal row are judged by
  :mod:`app.services.reconcile_orphans` (adopted only when provably made by a portal request
  that timed out).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import ApiKey, ApiKeyToken, AuditEvent, User, utcnow
from app.services.backfill import build_backfill_client as build_reconcile_client
from app.services.create_timeout import ABANDONED_ACTION, TIMEOUT_ACTION
from app.services.external_tokens import adopt_token
from app.services.keys import deployment_id
from app.services.litellm import KeyRecord, LiteLLMClient, LiteLLMError
from app.services.reconcile_orphans import Orphans, aware
from app.services.reconcile_results import DRIFT_LEFT, KeyResult, Outcome, ReconcileReport
from app.services.reconcile_sweep import KeySweep
from app.transactions import write_transaction

__all__ = [
    "DRIFT_LEFT",
    "KeyResult",
    "Outcome",
    "ReconcileError",
    "ReconcileReport",
    "build_reconcile_client",
    "known_tokens",
    "run_reconcile",
]

WRITE_BATCH = 500


class ReconcileError(Exception):
    """Bad input found before any work starts (e.g. an unknown ``--user``)."""


def known_tokens() -> dict[str, int]:
    """Every LiteLLM token id the portal knows, mapped to the id of the portal key it belongs to.

    The one answer to "is this LiteLLM key the portal's?": a LiteLLM key whose token is here is
    never an orphan: each key's current token (``api_keys.litellm_token_id``) and every token of
    its lineage (``api_key_tokens``), so an old secret in its rotation grace period, living under
    a retired alias, is the portal's too.
    """
    current = db.session.execute(
        sa.select(ApiKey.litellm_token_id, ApiKey.id).where(ApiKey.litellm_token_id.is_not(None))
    )
    found = {token: key_id for token, key_id in current}
    lineage = db.session.execute(sa.select(ApiKeyToken.token_id, ApiKeyToken.api_key_id))
    found.update({token: key_id for token, key_id in lineage})
    return found


@dataclass(frozen=True)
class _Key:
    """A portal key as loaded (the rest of the run never touches ORM objects)."""

    key_id: int
    owner_id: int
    owner: str
    alias: str
    token: str | None
    revoked: bool
    missing_since: datetime | None
    max_budget: float | None
    models: tuple[str, ...]
    expires_at: datetime | None
    spend: float | None
    blocked: bool | None
    checked: bool


@dataclass
class _Scope:
    owners: dict[str, int]  # litellm_user_id -> users.id
    keys: list[_Key]
    known: dict[str, int]
    timed_out: dict[str, tuple[int, str]]  # request id -> (users.id, alias)
    abandoned: set[str] = field(default_factory=set)  # request ids of abandoned keys
    labels: set[tuple[int, str]] = field(default_factory=set)


def run_reconcile(
    client: LiteLLMClient,
    *,
    dry_run: bool = False,
    user_email: str | None = None,
    delete_orphans: bool = False,
) -> ReconcileReport:
    """Reconcile and report; needs an app context. Never raises for LiteLLM or database
    failures: the report's ``error`` says what stopped it (exit status 2)."""
    report = ReconcileReport(dry_run=dry_run)
    calls_before = client.stats.upstream_calls
    started = utcnow()
    try:
        scope = _load(user_email)
        per_owner: dict[str, int] = defaultdict(int)
        for key in scope.keys:
            per_owner[key.owner] += 1
        sweep = KeySweep(
            client,
            report,
            owners=scope.owners,
            keys_per_owner=per_owner,
            known=scope.known,
            aliases={k.alias for k in scope.keys},
        )
        sweep.run()
        _Decider(client, scope, sweep, report, started, dry_run, delete_orphans).run()
    except LiteLLMError as exc:
        db.session.rollback()
        report.error = f"LiteLLM failed: {exc}; a rerun starts over"
    except SQLAlchemyError as exc:
        db.session.rollback()
        report.error = f"database error ({type(exc).__name__}); a rerun starts over"
    except BaseException:
        db.session.rollback()
        raise
    finally:
        report.litellm_calls = client.stats.upstream_calls - calls_before
    report.results.sort(key=lambda r: (r.key_id is None, r.key_id or 0, r.alias or ""))
    return report


def _load(user_email: str | None) -> _Scope:
    users = sa.select(User.id, User.litellm_user_id)
    if user_email is not None:
        user_id = db.session.scalar(sa.select(User.id).where(User.email == user_email))
        if user_id is None:
            user_id = db.session.scalar(
                sa.select(User.id).where(sa.func.lower(User.email) == user_email.lower())
            )
        if user_id is None:
            raise ReconcileError(f"no portal user with e-mail {user_email!r}")
        users = users.where(User.id == user_id)
    owners = {uid: user_id for user_id, uid in db.session.execute(users)}
    rows = db.session.scalars(
        sa.select(ApiKey).where(ApiKey.user_id.in_(owners.values())).order_by(ApiKey.id)
    )
    by_id = {v: k for k, v in owners.items()}
    keys = [
        _Key(
            key_id=k.id,
            owner_id=k.user_id,
            owner=by_id[k.user_id],
            alias=k.alias,
            token=k.litellm_token_id,
            revoked=k.revoked_at is not None,
            missing_since=k.litellm_missing_since,
            max_budget=k.max_budget,
            models=_split_models(k.models),
            expires_at=aware(k.expires_at),
            spend=k.litellm_spend,
            blocked=k.litellm_blocked,
            checked=k.litellm_checked_at is not None,
        )
        for k in rows
    ]
    scope = _Scope(owners, keys, known_tokens(), _timed_out_requests(), _abandoned_requests())
    labels = sa.select(ApiKey.user_id, ApiKey.label).where(ApiKey.user_id.in_(owners.values()))
    scope.labels = {(user_id, label) for user_id, label in db.session.execute(labels)}
    db.session.rollback()  # end the read transaction: no lock held while LiteLLM is slow
    return scope


def _abandoned_requests() -> set[str]:
    """Request ids of keys the portal made and could neither record nor delete."""
    found = set()
    details = db.session.scalars(
        sa.select(AuditEvent.detail).where(AuditEvent.action == ABANDONED_ACTION)
    )
    for detail in details:
        try:
            request_id = json.loads(detail or "{}").get("request_id")
        except ValueError:
            continue
        if request_id:
            found.add(str(request_id))
    return found


def orphan_min_age() -> timedelta:
    """How old a key must be before reconcile may delete it: the longest a create or rotation
    can still be waiting on LiteLLM's answer (the write timeout), plus a minute."""
    return timedelta(seconds=current_app.config["LITELLM_WRITE_TIMEOUT"] + 60)


def _timed_out_requests() -> dict[str, tuple[int, str]]:
    """Request id -> (owner, alias) of every portal key creation that got no answer."""
    found: dict[str, tuple[int, str]] = {}
    events = db.session.execute(
        sa.select(AuditEvent.target_user_id, AuditEvent.detail).where(
            AuditEvent.action == TIMEOUT_ACTION
        )
    )
    for owner_id, detail in events:
        try:
            data = json.loads(detail or "{}")
        except ValueError:
            continue
        if owner_id is not None and data.get("request_id") and data.get("alias"):
            found[data["request_id"]] = (owner_id, data["alias"])
    return found


class _Decider:
    """Turns the loaded keys and the swept records into results and guarded writes."""

    def __init__(
        self,
        client: LiteLLMClient,
        scope: _Scope,
        sweep: KeySweep,
        report: ReconcileReport,
        started: datetime,
        dry_run: bool,
        delete_orphans: bool,
    ) -> None:
        self.client = client
        self.scope = scope
        self.sweep = sweep
        self.report = report
        self.started = started
        self.dry_run = dry_run
        self.delete_orphans = delete_orphans
        self.pending: list[tuple[KeyResult, sa.Update]] = []
        self.checked: list[dict] = []  # in-sync keys: LiteLLM's copy refreshed by primary key
        self.regenerated: list[tuple[_Key, KeyRecord]] = []

    def run(self) -> None:
        live = [k for k in self.scope.keys if not k.revoked or k.token is not None]
        unseen = [k for k in live if self._check(k, final=False) is None]
        self.sweep.confirm([k.alias for k in unseen if not k.revoked])
        for key in unseen:
            self._check(key, final=True)
        self._write()
        # Keys the portal made while this run swept are in the database by now.
        known = known_tokens()
        db.session.rollback()
        self._adopt_regenerated(known)
        orphans = Orphans(
            self.client,
            self.scope.owners,
            known,
            self.scope.timed_out,
            self.scope.labels,
            {k.alias for k in self.scope.keys},
            self.started,
            self.dry_run,
            self.delete_orphans,
            abandoned=self.scope.abandoned,
            deployment=deployment_id(),
            min_age=orphan_min_age(),
        )
        self.report.results.extend(orphans.settle(self.sweep.records.values()))

    # -- portal keys ------------------------------------------------------------------------
    def _record_for(self, key: _Key) -> KeyRecord | None:
        if key.token is not None:
            return self.sweep.records.get(key.token)
        for record in self.sweep.by_alias.get(key.alias, ()):
            if record.user_id == key.owner:
                return record
        return None

    def _check(self, key: _Key, *, final: bool) -> bool | None:
        """Decide ``key`` (True), or None when LiteLLM did not show it and ``final`` is False."""
        record = self._record_for(key)
        if key.revoked:
            if record is not None:
                self._add(key, Outcome.REVOKED_BUT_LIVE, detail="revoke it again in LiteLLM")
            return True
        if record is None:
            others = self.sweep.by_alias.get(key.alias, [])
            if others:
                mine = [r for r in others if r.user_id == key.owner]
                if len(mine) == 1 and key.token is not None:
                    self.regenerated.append((key, mine[0]))  # decided once the writes are in
                    return True
                outcome = Outcome.TOKEN_MISMATCH if mine else Outcome.OWNER_MISMATCH
                owners = ", ".join(sorted({str(r.user_id) for r in others}))
                self._add(key, outcome, detail=f"LiteLLM has the alias for {owners}")
                return True
            if not final:
                return None
            self._missing(key)
            return True
        self._compare(key, record)
        return True

    def _missing(self, key: _Key) -> None:
        if key.missing_since is not None:
            self._add(key, Outcome.MISSING, detail=f"since {key.missing_since:%Y-%m-%d %H:%M}")
            return
        now = utcnow()
        statement = (
            _guarded(key)
            .where(ApiKey.revoked_at.is_(None), ApiKey.litellm_missing_since.is_(None))
            .values(litellm_missing_since=now, litellm_checked_at=now)
        )
        self._add(key, Outcome.MISSING, detail="marked deleted in LiteLLM", write=statement)

    def _compare(self, key: _Key, record: KeyRecord) -> None:
        changes = []
        if not _same_number(key.max_budget, record.max_budget):
            changes.append(f"max_budget: {key.max_budget} -> {record.max_budget}")
        if key.models != record.models:
            changes.append(f"models: {','.join(key.models)} -> {','.join(record.models)}")
        expires = aware(record.expires)
        if not _same_time(key.expires_at, expires):
            changes.append(f"expires: {_iso(key.expires_at)} -> {_iso(expires)}")
        if key.checked and bool(key.blocked) != record.blocked:
            changes.append(f"blocked: {bool(key.blocked)} -> {record.blocked}")
        if key.checked and not _same_number(key.spend, record.spend):
            changes.append(f"spend: {key.spend} -> {record.spend}")
        if key.missing_since is not None:
            changes.append("back in LiteLLM")
        now = utcnow()
        if expires is not None and expires <= now:
            outcome = Outcome.EXPIRED
        elif record.blocked:
            outcome = Outcome.BLOCKED
        else:
            outcome = Outcome.UPDATED if changes else Outcome.IN_SYNC
        copy = {
            "litellm_spend": record.spend,
            "litellm_blocked": record.blocked,
            "litellm_checked_at": now,
        }
        if not changes:
            self._add(key, outcome, token=record.token)
            self.checked.append({"id": key.key_id, **copy})
            return
        statement = _guarded(key).values(
            max_budget=record.max_budget,
            models=",".join(record.models) or None,
            expires_at=expires,
            litellm_missing_since=None,
            **copy,
        )
        self._add(key, outcome, token=record.token, changes=changes, write=statement)

    def _add(
        self,
        key: _Key,
        outcome: Outcome,
        *,
        token: str | None = None,
        detail: str = "",
        changes: list[str] | None = None,
        write: sa.Update | None = None,
    ) -> None:
        result = KeyResult(
            outcome, key.alias, key.owner, token or key.token, key.key_id, detail,
            tuple(changes or ()), repair=write is not None,
        )  # fmt: skip
        if write is not None and not self.dry_run:
            self.pending.append((result, write))
        else:
            self.report.results.append(result)

    def _adopt_regenerated(self, known: dict[str, int]) -> None:
        """Keys whose alias holds one key of the same owner under a token no portal key has:
        regenerated outside the portal, so that token becomes the key's current one (like
        ``/keys`` and ``backfill-tokens --verify`` do). A token of another portal key, or a
        rotation under way, leaves it a token mismatch."""
        for key, record in self.regenerated:
            result = KeyResult(
                Outcome.REGENERATED, key.alias, key.owner, record.token, key.key_id,
                f"was {key.token[:8]}…", repair=True,
            )  # fmt: skip
            if record.token in known:
                holder = known[record.token]
                detail = "LiteLLM has the alias with another token id" + (
                    f" (portal key #{holder})" if holder != key.key_id else ""
                )
                self.report.results.append(
                    replace(result, outcome=Outcome.TOKEN_MISMATCH, detail=detail, repair=False)
                )
                continue
            if self.dry_run:
                self.report.results.append(result)
                continue
            row = db.session.get(ApiKey, key.key_id)
            adopted = row is not None and row.revoked_at is None and adopt_token(row, record.token)
            db.session.rollback()
            if adopted:
                self.report.results.append(replace(result, written=True))
            else:
                self.report.results.append(
                    replace(result, outcome=Outcome.TOKEN_MISMATCH, repair=False,
                            detail="LiteLLM has the alias with another token id")
                )  # fmt: skip

    def _write(self) -> None:
        """Guarded updates and the in-sync keys' refreshed copy, committed in batches."""
        for start in range(0, len(self.pending), WRITE_BATCH):
            batch = self.pending[start : start + WRITE_BATCH]
            with write_transaction() as session:
                for result, statement in batch:
                    done = session.execute(statement.execution_options(synchronize_session=False))
                    self.report.results.append(replace(result, written=done.rowcount == 1))
        self.pending.clear()
        if self.dry_run:
            return
        for start in range(0, len(self.checked), WRITE_BATCH):
            with write_transaction() as session:
                session.execute(sa.update(ApiKey), self.checked[start : start + WRITE_BATCH])


def _guarded(key: _Key) -> sa.Update:
    """An UPDATE of ``key``'s row only while its token is still the one this run compared."""
    token_is = (
        ApiKey.litellm_token_id.is_(None)
        if key.token is None
        else ApiKey.litellm_token_id == key.token
    )
    return sa.update(ApiKey).where(ApiKey.id == key.key_id, token_is)


def _split_models(value: str | None) -> tuple[str, ...]:
    return tuple(m.strip() for m in value.split(",") if m.strip()) if value else ()


def _same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < timedelta(seconds=1)


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "never"
