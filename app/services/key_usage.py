"""What the keys list and a key's page show from usage history: lifetime spend, the last day a
key was used, and its last 30 days.

Both come from LiteLLM's daily activity (never reset, unlike a key's ``spend`` under a budget
window), counted for every token of each key's lineage like every usage report
(``app.services.usage``). **Lifetime** has one definition, used by both pages: from the day
LiteLLM made the key (:func:`lifetime_start`: LiteLLM's ``created_at``, which a key imported by
backfill or adopted has long before its portal row) to today. LiteLLM failures raise
``LiteLLMError``; callers show the page without these figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from app.models import ApiKey, User
from app.services.lineage import as_utc, read_lineage
from app.services.litellm import Metrics
from app.services.usage import DayRow, accumulate_tokens

SPARKLINE_DAYS = 30


@dataclass(frozen=True)
class KeyUsageSummary:
    """One key's lifetime usage and the last UTC day it made a request (None: never)."""

    lifetime: Metrics
    last_used: dt.date | None


@dataclass(frozen=True)
class KeyHistory:
    """A key's lifetime usage plus its last ``SPARKLINE_DAYS`` days, for the key page."""

    summary: KeyUsageSummary
    recent: tuple[DayRow, ...]
    stale: bool


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def lifetime_start(key: ApiKey, seen: dt.datetime | None = None) -> dt.date:
    """The first UTC day of ``key``'s life: the earlier of when LiteLLM made it (stored, or
    ``seen`` in LiteLLM's answer just now) and its portal row (every lineage token became
    current at or after the row was made, so the lineage adds nothing and is not loaded)."""
    moments = [key.created_at, key.litellm_created_at, seen]
    days = [as_utc(m).date() for m in moments if m is not None]
    return min(days, default=_today())


def _client():
    from app.services import litellm_client

    return litellm_client()


def summaries_for(
    user: User, keys: list[ApiKey], seen: Mapping[int, dt.datetime | None] | None = None
) -> dict[int, KeyUsageSummary]:
    """Lifetime usage of each of ``user``'s ``keys`` that has a token id, in ONE call (the
    per-key fallback of ``accumulate_tokens`` when LiteLLM cut its lists). ``seen`` holds
    LiteLLM's ``created_at`` per key id, as the caller's key list had it."""
    seen = seen or {}
    key_by_token = {k.litellm_token_id: k.id for k in keys if k.litellm_token_id}
    if not key_by_token:
        return {}
    key_by_token.update(read_lineage(keys).key_by_token)  # earlier tokens of rotated keys
    today = _today()
    start = min(lifetime_start(k, seen.get(k.id)) for k in keys if k.litellm_token_id)
    acc = accumulate_tokens(_client(), start, today, key_by_token, user_id=user.litellm_user_id)
    return {
        key_id: KeyUsageSummary(acc.per_key.get(key_id, Metrics()), acc.last_used.get(key_id))
        for key_id in set(key_by_token.values())
    }


def history_of(key: ApiKey, seen: dt.datetime | None = None) -> KeyHistory | None:
    """``key``'s lifetime usage and last 30 days, over every token of its lineage; None while
    its token id is unknown. ``seen`` is LiteLLM's ``created_at`` from ``/key/info``."""
    if not key.litellm_token_id:
        return None
    today = _today()
    start = min(lifetime_start(key, seen), today - dt.timedelta(days=SPARKLINE_DAYS - 1))
    token = key.litellm_token_id
    lineage = read_lineage([key])
    tokens = dict.fromkeys({token, *lineage.key_by_token}, key.id)
    if len(tokens) == 1:
        acc = accumulate_tokens(_client(), start, today, tokens, api_key=token)
    else:
        user_id = key.user.litellm_user_id
        acc = accumulate_tokens(_client(), start, today, tokens, user_id=user_id)
    report = acc.report(key=key, keys=())
    return KeyHistory(
        summary=KeyUsageSummary(acc.per_key.get(key.id, Metrics()), acc.last_used.get(key.id)),
        recent=report.daily[-SPARKLINE_DAYS:],
        stale=report.stale,
    )
