"""LiteLLM keys without a portal row in ``flask reconcile-keys``: orphans, adopted or deleted.

An orphan is a LiteLLM key of a portal user (exact ``user_id``) whose alias follows the portal's
naming but whose token the portal does not know. One is adopted only when its metadata carries
the request id of a portal ``/key/generate`` that timed out for that owner and alias (a
``key.create.timeout`` audit event): it then becomes an ordinary portal key. The others are
reported; ``delete_orphans`` deletes only a key that this deployment provably made and abandoned:
its metadata names this deployment (``portal_deployment``) and a request id the portal recorded
as abandoned (a ``key.abandoned`` audit event: the key was made, then neither recorded nor
deleted), and it is older than the write timeout plus a margin, so no request still in flight
can own it. Metadata alone proves nothing (anyone who can make keys can write it), two
deployments on one LiteLLM never delete each other's keys, and everything else is reported.
Adoption inserts a row whose unique token id, alias and request id make a second adoption of the
same key (a concurrent run) fail harmlessly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from app import audit
from app.extensions import db
from app.models import ApiKey, User, utcnow
from app.services.create_timeout import REQUEST_ID_FIELD
from app.services.keys import DEPLOYMENT_FIELD, LABEL_MAX, PORTAL_TAG, alias_prefixes
from app.services.litellm import KeyRecord, LiteLLMClient
from app.services.reconcile_results import KeyResult, Outcome
from app.transactions import write_transaction

__all__ = ["Orphans", "aware"]


def aware(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached when it has no zone (SQLite returns naive UTC)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class Orphans:
    """What one run knows to judge orphans; :meth:`settle` adopts, deletes or reports them."""

    client: LiteLLMClient
    owners: Mapping[str, int]  # litellm_user_id -> users.id
    known: Mapping[str, int]  # token ids the portal knows
    timed_out: Mapping[str, tuple[int, str]]  # request id -> (users.id, alias)
    labels: set[tuple[int, str]]  # (users.id, label) already taken
    portal_aliases: set[str]
    started: datetime
    dry_run: bool
    delete_orphans: bool
    abandoned: set[str] = field(default_factory=set)  # request ids recorded as abandoned
    deployment: str = ""  # this deployment's identifier (keys.deployment_id)
    min_age: timedelta = timedelta(minutes=2)  # younger keys may belong to a request in flight

    def settle(self, records: Iterable[KeyRecord]) -> list[KeyResult]:
        """A result per orphan among ``records`` (other records are not orphans: skipped)."""
        results = []
        for record in sorted(records, key=lambda r: r.key_alias or ""):
            owner_id = self.owners.get(record.user_id or "")
            alias = record.key_alias
            if (
                owner_id is None
                or record.token in self.known
                or alias is None
                or alias in self.portal_aliases
                or not alias.startswith(alias_prefixes(record.user_id or ""))
            ):
                continue
            result = KeyResult(Outcome.ORPHAN, alias, record.user_id, record.token)
            request_id = record.metadata.get(REQUEST_ID_FIELD)
            if self.timed_out.get(str(request_id)) == (owner_id, alias):
                result = self._adopt(result, record, owner_id, str(request_id))
            elif self.delete_orphans:
                reason = self._kept_because(record)
                if reason is None:
                    result = self._delete(result, record, owner_id)
                else:
                    result = replace(result, detail=f"not deleted: {reason}")
            results.append(result)
        return results

    def _adopt(
        self, result: KeyResult, record: KeyRecord, owner_id: int, request_id: str
    ) -> KeyResult:
        alias = record.key_alias or ""
        prefix = next(p for p in alias_prefixes(record.user_id or "") if alias.startswith(p))
        label = str(record.metadata.get("portal_label") or alias[len(prefix) :])
        if len(label) > LABEL_MAX or (owner_id, label) in self.labels:
            detail = f"made by a timed-out portal request, but label {label!r} is taken"
            return replace(result, detail=detail)
        adopted = replace(
            result, outcome=Outcome.ADOPTED, detail=f"request {request_id}", repair=True
        )
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
            expires_at=aware(record.expires),
            litellm_created_at=aware(record.created_at),
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
        self.labels.add((owner_id, label))
        return replace(adopted, key_id=key.id, written=True)

    def _kept_because(self, record: KeyRecord) -> str | None:
        """Why ``record`` is not deleted, or None when it may be."""
        metadata = record.metadata
        if metadata.get("created_by") != PORTAL_TAG:
            return "not made by the portal"
        if not self.deployment or metadata.get(DEPLOYMENT_FIELD) != self.deployment:
            return "made by another deployment (or names none)"
        if str(metadata.get(REQUEST_ID_FIELD)) not in self.abandoned:
            return "no abandoned request of this portal made it"
        created = aware(record.created_at)
        if created is None or created > self.started - self.min_age:
            return "too young: a request may still be recording it"
        return None

    def _delete(self, result: KeyResult, record: KeyRecord, owner_id: int) -> KeyResult:
        if self.dry_run:
            return replace(result, outcome=Outcome.ORPHAN_DELETED, repair=True)
        deleted = self.client.delete_key(record.token)
        if deleted:
            audit.record(
                "key.orphan.delete",
                actor=None,
                target_user=db.session.get(User, owner_id),
                detail={"alias": record.key_alias, "token_id": record.token},
            )
        detail = "" if deleted else "already gone (another run?)"
        return replace(
            result, outcome=Outcome.ORPHAN_DELETED, detail=detail, repair=True, written=deleted
        )
