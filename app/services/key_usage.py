"""What the keys list and a key's page show from usage history: lifetime spend, the last day a
key was used, and its last 30 days.

Both come from LiteLLM's daily activity (never reset, unlike a key's ``spend`` under a budget
window), counted only for the user's own token ids like every usage report
(``app.services.usage``). The range starts on the day the oldest key was made, so "lifetime"
means since the portal made the key. LiteLLM failures raise ``LiteLLMError``; callers show the
list without these figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.models import ApiKey, User
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


def _first_day(keys: list[ApiKey]) -> dt.date:
    created = [k.created_at.date() for k in keys if k.created_at is not None]
    return min(created, default=_today())


def _client():
    from app.services import litellm_client

    return litellm_client()


def summaries_for(user: User, keys: list[ApiKey]) -> dict[int, KeyUsageSummary]:
    """Lifetime usage of each of ``user``'s ``keys`` that has a token id, in ONE call (the
    per-key fallback of ``accumulate_tokens`` when LiteLLM cut its lists)."""
    key_by_token = {k.litellm_token_id: k.id for k in keys if k.litellm_token_id}
    if not key_by_token:
        return {}
    today = _today()
    acc = accumulate_tokens(
        _client(), _first_day(keys), today, key_by_token, user_id=user.litellm_user_id
    )
    return {
        key_id: KeyUsageSummary(acc.per_key.get(key_id, Metrics()), acc.last_used.get(key_id))
        for key_id in key_by_token.values()
    }


def history_of(key: ApiKey) -> KeyHistory | None:
    """``key``'s lifetime usage and last 30 days (one call with ``api_key=<token>``); None
    while its token id is unknown."""
    if not key.litellm_token_id:
        return None
    today = _today()
    start = min(_first_day([key]), today - dt.timedelta(days=SPARKLINE_DAYS - 1))
    token = key.litellm_token_id
    acc = accumulate_tokens(_client(), start, today, {token: key.id}, api_key=token)
    report = acc.report(key=key, keys=())
    return KeyHistory(
        summary=KeyUsageSummary(acc.per_key.get(key.id, Metrics()), acc.last_used.get(key.id)),
        recent=report.daily[-SPARKLINE_DAYS:],
        stale=report.stale,
    )
