"""Compare the portal's keys with LiteLLM's and repair what drifted (``flask reconcile-keys``).

The run has three steps that never overlap, so no transaction is open while LiteLLM works:

* **Load** (database): the portal users in scope, their keys, the token ids the portal knows
  (:func:`known_tokens`) and the request ids of key creations that timed out.
* **Sweep** (LiteLLM): ``GET /key/list`` pages of 100 full objects, chosen as ``flask
  backfill-tokens`` chooses them: one global sweep when its page count (read from page 1, which
  is reused) is not above the per-user estimate, else one sweep per portal user. Keys the sweep
  did not show are confirmed before anything is marked (a key deleted meanwhile shifts LiteLLM's
  offset pages): a ``key_alias`` lookup each when they are few, else one more sweep.
* **Decide and write** (database; LiteLLM only to delete orphans): per key, every write guarded
  by what was read (``WHERE`` the token is still the one compared, the key not revoked, not yet
  marked), so a second run at the same time or the portal serving meanwhile never has its
  writes overwritten. Adoption inserts a row whose unique token id, alias and request id make
  a second adoption of the same key fail harmlessly.

Orphans are LiteLLM keys of a portal user (exact ``user_id``) whose alias follows the portal's
naming but whose token the portal does not know. One is adopted only when its metadata carries
the request id of a portal ``/key/generate`` that timed out for that owner and alias (a
``key.create.timeout`` audit event); the others are reported, or deleted with
``delete_orphans`` when the portal made them (metadata ``created_by``) before this run began.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app import audit
from app.extensions import db
from app.models import ApiKey, AuditEvent, User, utcnow
from app.services.backfill import KEY_LIST_PAGE_SIZE, LEFTOVER_LOOKUP_LIMIT
from app.services.backfill import build_backfill_client as build_reconcile_client
from app.services.create_timeout import REQUEST_ID_FIELD, TIMEOUT_ACTION
from app.services.keys import LABEL_MAX, PORTAL_TAG, alias_prefixes
from app.services.litellm import KeyPage, KeyRecord, LiteLLMClient, LiteLLMError
from app.services.reconcile_results import DRIFT_LEFT, KeyResult, Outcome, ReconcileReport
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
    never an orphan. Today that is ``api_keys.litellm_token_id``, each key's current token;
    older tokens a key still has alive (e.g. during a rotation's grace period) belong here too.
    """
    rows = db.session.execute(
        sa.select(ApiKey.litellm_token_id, ApiKey.id).where(ApiKey.litellm_token_id.is_not(None))
    )
    return {token: key_id for token, key_id in rows}


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
        sweep = _Sweep(client, scope, report)
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
            expires_at=_aware(k.expires_at),
            spend=k.litellm_spend,
            blocked=k.litellm_blocked,
            checked=k.litellm_checked_at is not None,
        )
        for k in rows
    ]
    scope = _Scope(owners, keys, known_tokens(), _timed_out_requests())
    labels = sa.select(ApiKey.user_id, ApiKey.label).where(ApiKey.user_id.in_(owners.values()))
    scope.labels = {(user_id, label) for user_id, label in db.session.execute(labels)}
    db.session.rollback()  # end the read transaction: no lock held while LiteLLM is slow
    return scope


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


class _Sweep:
    """LiteLLM's keys that matter to this run, with as few ``/key/list`` pages as it can."""

    def __init__(self, client: LiteLLMClient, scope: _Scope, report: ReconcileReport) -> None:
        self.client = client
        self.scope = scope
        self.report = report
        self.aliases = {k.alias for k in scope.keys}
        self.records: dict[str, KeyRecord] = {}
        # alias -> records (several when LiteLLM holds one alias twice, e.g. old versions)
        self.by_alias: dict[str, list[KeyRecord]] = defaultdict(list)
        self.global_pages: int | None = None

    def take(self, pages: Iterable[KeyPage]) -> None:
        """Keep the records of portal users, known tokens or portal aliases."""
        for page in pages:
            self.report.pages += 1
            for record in page.keys:
                if (
                    record.user_id in self.scope.owners
                    or record.token in self.scope.known
                    or record.key_alias in self.aliases
                ):
                    if record.token not in self.records:
                        self.records[record.token] = record
                        if record.key_alias is not None:
                            self.by_alias[record.key_alias].append(record)

    def run(self) -> None:
        """One global sweep or one sweep per portal user, whichever needs fewer pages."""
        per_owner: dict[str, int] = defaultdict(int)
        for key in self.scope.keys:
            per_owner[key.owner] += 1
        owners = list(self.scope.owners)
        estimate = sum(max(1, math.ceil(per_owner[o] / KEY_LIST_PAGE_SIZE)) for o in owners)
        if len(owners) > 1:
            pages = self.client.iter_key_pages(None)
            first = next(pages)
            self.global_pages = max(first.total_pages, 1)
            if self.global_pages <= estimate:
                self.report.mode = "global"
                self.take(_chain(first, pages))
                return
            pages.close()
            self.take([first])
        self.report.mode = "per-user"
        for owner in owners:
            self.take(self.client.iter_key_pages(owner))

    def confirm(self, aliases: list[str]) -> None:
        """Look again for keys no sweep showed: an alias lookup each when they are few (and
        fewer than a global sweep's pages), else one more global sweep."""
        if not aliases:
            return
        few = len(aliases) <= LEFTOVER_LOOKUP_LIMIT
        if self.global_pages is not None:
            few = few and len(aliases) < self.global_pages
        if few:
            for alias in aliases:
                self.take(self.client.iter_key_pages(None, key_alias=alias))
        else:
            self.take(self.client.iter_key_pages(None))


def _chain(first: KeyPage, rest: Iterator[KeyPage]) -> Iterator[KeyPage]:
    yield first
    yield from rest


class _Decider:
    """Turns the loaded keys and the swept records into results and guarded writes."""

    def __init__(
        self,
        client: LiteLLMClient,
        scope: _Scope,
        sweep: _Sweep,
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

    def run(self) -> None:
        live = [k for k in self.scope.keys if not k.revoked or k.token is not None]
        unseen = [k for k in live if self._check(k, final=False) is None]
        self.sweep.confirm([k.alias for k in unseen if not k.revoked])
        for key in unseen:
            self._check(key, final=True)
        self._write()
        # Keys the portal made while this run swept are in the database by now.
        self.scope.known = known_tokens()
        db.session.rollback()
        self._orphans()

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
        expires = _aware(record.expires)
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
            tuple(changes or ()),
        )  # fmt: skip
        if write is not None and not self.dry_run:
            self.pending.append((result, write))
        else:
            self.report.results.append(result)

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

    # -- LiteLLM keys without a portal row ----------------------------------------------------
    def _orphans(self) -> None:
        portal_aliases = {k.alias for k in self.scope.keys}
        for record in sorted(self.sweep.records.values(), key=lambda r: r.key_alias or ""):
            owner_id = self.scope.owners.get(record.user_id or "")
            alias = record.key_alias
            if (
                owner_id is None
                or record.token in self.scope.known
                or alias is None
                or alias in portal_aliases
                or not alias.startswith(alias_prefixes(record.user_id or ""))
            ):
                continue
            result = KeyResult(Outcome.ORPHAN, alias, record.user_id, record.token)
            request_id = record.metadata.get(REQUEST_ID_FIELD)
            if self.scope.timed_out.get(str(request_id)) == (owner_id, alias):
                result = self._adopt(result, record, owner_id, str(request_id))
            elif self.delete_orphans and record.metadata.get("created_by") == PORTAL_TAG:
                result = self._delete_orphan(result, record, owner_id)
            self.report.results.append(result)

    def _adopt(
        self, result: KeyResult, record: KeyRecord, owner_id: int, request_id: str
    ) -> KeyResult:
        alias = record.key_alias or ""
        prefix = next(p for p in alias_prefixes(record.user_id or "") if alias.startswith(p))
        label = str(record.metadata.get("portal_label") or alias[len(prefix) :])
        if len(label) > LABEL_MAX or (owner_id, label) in self.scope.labels:
            detail = f"made by a timed-out portal request, but label {label!r} is taken"
            return replace(result, detail=detail)
        adopted = replace(result, outcome=Outcome.ADOPTED, detail=f"request {request_id}")
        if self.dry_run:
            return adopted
        key = ApiKey(
            user_id=owner_id,
            alias=record.key_alias,
            label=label,
            key_prefix=record.key_name,
            litellm_token_id=record.token,
            max_budget=record.max_budget,
            models=",".join(record.models) or None,
            expires_at=_aware(record.expires),
            request_id=request_id,
            litellm_spend=record.spend,
            litellm_blocked=record.blocked,
            litellm_checked_at=utcnow(),
        )
        try:
            with write_transaction() as session:
                session.add(key)
                session.flush()
                audit.record(
                    "key.adopt",
                    actor=None,
                    target_user=session.get(User, owner_id),
                    target_key=key,
                    detail={"alias": record.key_alias, "token_id": record.token,
                            "request_id": request_id},
                    commit=False,
                )  # fmt: skip
        except IntegrityError:
            # Another run adopted it first (unique token id, alias and request id).
            return replace(adopted, detail=f"request {request_id}, adopted by another run")
        self.scope.labels.add((owner_id, label))
        return replace(adopted, key_id=key.id, written=True)

    def _delete_orphan(self, result: KeyResult, record: KeyRecord, owner_id: int) -> KeyResult:
        created = _aware(record.created_at)
        if created is None or created >= self.started:
            return replace(result, detail="made while this run swept: left alone")
        if self.dry_run:
            return replace(result, outcome=Outcome.ORPHAN_DELETED)
        deleted = self.client.delete_key(record.token)
        if deleted:
            audit.record(
                "key.orphan.delete",
                actor=None,
                target_user=db.session.get(User, owner_id),
                detail={"alias": record.key_alias, "token_id": record.token},
            )
        detail = "" if deleted else "already gone (another run?)"
        return replace(result, outcome=Outcome.ORPHAN_DELETED, detail=detail, written=deleted)


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


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive UTC
        return value.replace(tzinfo=UTC)
    return value


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
