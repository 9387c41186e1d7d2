"""Finding and listing a user's keys: the one place that answers "is this key this user's?"
and "which keys does this user have?", and the keys page's rows with LiteLLM's spend."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, User
from app.services import litellm_client
from app.services.external_tokens import adopt_listed_tokens
from app.services.litellm import KeyRecord, LiteLLMError, LiteLLMUnavailable
from app.services.token_retirement import retire_due
from app.services.tokens import remember_litellm_created, resolve_missing_tokens

if TYPE_CHECKING:
    from app.services.key_usage import KeyUsageSummary

log = logging.getLogger("app.keys")


@dataclass(frozen=True)
class KeyRow:
    """One line of the keys page: the row plus what LiteLLM says about it (when known)."""

    key: ApiKey
    record: KeyRecord | None
    usage: KeyUsageSummary | None = None  # lifetime spend and last use, from usage history

    @property
    def lifetime_spend(self) -> float | None:
        return self.usage.lifetime.spend if self.usage is not None else None

    @property
    def last_used(self) -> dt.date | None:
        return self.usage.last_used if self.usage is not None else None

    @property
    def window_name(self) -> str | None:
        """The budget window (daily, weekly, monthly) the spend figure belongs to."""
        from app.services.key_detail import window_name  # usage reports import this module

        if self.record is not None:
            return window_name(self.record.budget_duration)
        return window_name(self.key.budget_duration)

    @property
    def budget_used(self) -> float | None:
        """Share of the budget spent (0..1, capped), when both figures are known."""
        if self.spend is None or not self.max_budget:
            return None
        return min(self.spend / self.max_budget, 1.0)

    @property
    def token_known(self) -> bool:
        return self.key.litellm_token_id is not None

    @property
    def spend(self) -> float | None:
        return self.record.spend if self.record is not None else None

    @property
    def max_budget(self) -> float | None:
        if self.record is not None and self.record.max_budget is not None:
            return self.record.max_budget
        return self.key.max_budget


@dataclass(frozen=True)
class KeyListing:
    rows: tuple[KeyRow, ...]
    litellm_loaded: bool  # spend/budget columns come from LiteLLM
    notice: str | None = None  # why they do not (LiteLLM down), for a small notice
    stale: bool = False  # LiteLLM was down; numbers come from an expired cache entry


def find_user_key(user: User, key_id: int) -> ApiKey | None:
    """``user``'s key ``key_id``, or None (missing and someone else's look the same)."""
    return db.session.scalar(
        sa.select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id)
    )


def keys_of(user: User, *, newest_first: bool = True) -> list[ApiKey]:
    """The user's keys, revoked ones included: newest first (the keys page) or in the order
    they were made (usage filters and tables)."""
    order = (ApiKey.created_at.desc(), ApiKey.id.desc()) if newest_first else (ApiKey.id,)
    return list(
        db.session.scalars(sa.select(ApiKey).where(ApiKey.user_id == user.id).order_by(*order))
    )


def list_keys_for_user(user: User, *, with_litellm: bool = True) -> KeyListing:
    """The user's keys from the DB, with spend and budget from one ``/key/list`` sweep.

    LiteLLM being down never hides the list: rows come from the DB and ``notice`` says why the
    numbers are missing. Keys regenerated outside the portal are adopted and old secrets whose
    grace period ended are deleted on the way (both cost nothing when there are none).
    ``with_litellm=False`` skips LiteLLM entirely (form error re-renders).
    """
    keys = keys_of(user)
    if not with_litellm:
        return KeyListing(tuple(KeyRow(k, None) for k in keys), litellm_loaded=False)
    try:
        result = litellm_client().list_keys(user.litellm_user_id)
    except LiteLLMError as exc:
        log.warning("key list without LiteLLM numbers for user %s: %s", user.id, exc.message)
        notice = (
            "LiteLLM is unreachable right now: spend and budgets are not shown."
            if isinstance(exc, LiteLLMUnavailable)
            else f"LiteLLM did not answer properly ({exc.message}): spend is not shown."
        )
        return KeyListing(tuple(KeyRow(k, None) for k in keys), False, notice)
    if adopt_listed_tokens(user, keys, result):  # regenerated outside the portal
        keys = keys_of(user)
    retire_due([k.id for k in keys])  # old secrets whose grace period has ended
    if any(k.litellm_token_id is None for k in keys):
        # Resolved here as /usage resolves them (the same cached list), so opening one page
        # never changes what another shows for the same key.
        resolve_missing_tokens(user, keys, client=litellm_client())
        keys = keys_of(user)
    by_token = {r.token: r for r in result}
    by_alias = result.by_alias()
    records = {}
    for key in keys:
        if key.litellm_token_id is not None:
            records[key.id] = by_token.get(key.litellm_token_id)
        else:
            records[key.id] = by_alias.get(key.alias)
    seen = {key_id: r.created_at for key_id, r in records.items() if r is not None}
    remember_litellm_created(keys, seen)
    usage = _usage_summaries(user, keys, seen)
    rows = [KeyRow(key, records[key.id], usage.get(key.id)) for key in keys]
    return KeyListing(tuple(rows), True, stale=result.stale)


def _usage_summaries(
    user: User, keys: list[ApiKey], seen: dict[int, dt.datetime | None]
) -> dict[int, KeyUsageSummary]:
    """Lifetime spend and last use per key; empty (the columns show "—") when LiteLLM's usage
    history cannot be read, which never hides the list."""
    from app.services.key_usage import summaries_for  # it builds on usage, which imports us

    try:
        return summaries_for(user, keys, seen)
    except LiteLLMError as exc:
        log.warning("key list without usage history for user %s: %s", user.id, exc.message)
        return {}


def offered_models() -> tuple[str, ...] | None:
    """The models LiteLLM serves (cached by the client), for the create form's choices; None
    when LiteLLM cannot list them (the form then takes names as free text)."""
    try:
        names = litellm_client().model_names()
    except LiteLLMError as exc:
        log.warning("create form without LiteLLM's model list: %s", exc.message)
        return None
    return names or None
