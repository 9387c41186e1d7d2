"""One key's page: what LiteLLM says about it now, why it works or not, and its history.

Live figures come from ``/key/info`` (cached briefly by the client). When LiteLLM does not
answer, the page falls back to the portal's own copy (budget, window, expiry, models as they
were asked for at creation) and says so; nothing here raises for a LiteLLM failure.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, AuditEvent, utcnow
from app.services import litellm_client
from app.services.key_usage import KeyHistory, history_of
from app.services.litellm import KeyInfo, LiteLLMError, LiteLLMNotFound, LiteLLMUnavailable
from app.services.tokens import UnknownAlias, remember_litellm_created, resolve_token

log = logging.getLogger("app.keys")

AUDIT_EVENTS_SHOWN = 20
# LiteLLM's budget_duration → the words the page uses (others are shown as LiteLLM wrote them).
WINDOW_NAMES = {"1d": "daily", "24h": "daily", "7d": "weekly", "1w": "weekly",
                "1mo": "monthly", "30d": "monthly"}  # fmt: skip


@dataclass(frozen=True)
class KeyState:
    """``name`` is one of active, expired, revoked, over budget, blocked, deleted in LiteLLM;
    ``reason`` says in a sentence what that means for requests made with the key."""

    name: str
    reason: str

    @property
    def css(self) -> str:
        return self.name.replace(" ", "-")


@dataclass(frozen=True)
class KeyDetail:
    key: ApiKey
    info: KeyInfo | None  # LiteLLM's answer; None when it did not answer or lost the key
    live_error: str | None  # why there are no live figures (shown in an error panel)
    state: KeyState
    history: KeyHistory | None
    history_error: str | None
    events: tuple[AuditEvent, ...]

    @property
    def live(self) -> bool:
        return self.info is not None

    @property
    def spend(self) -> float | None:
        """Spend in the current budget window (lifetime spend when there is no window)."""
        return self.info.spend if self.info is not None else None

    @property
    def max_budget(self) -> float | None:
        return self.info.max_budget if self.info is not None else self.key.max_budget

    @property
    def budget_duration(self) -> str | None:
        return self.info.budget_duration if self.info is not None else self.key.budget_duration

    @property
    def window_name(self) -> str | None:
        return window_name(self.budget_duration)

    @property
    def budget_reset_at(self) -> dt.datetime | None:
        return self.info.budget_reset_at if self.info is not None else None

    @property
    def budget_used(self) -> float | None:
        if self.spend is None or not self.max_budget:
            return None
        return min(self.spend / self.max_budget, 1.0)

    @property
    def expires(self) -> dt.datetime | None:
        return self.info.expires if self.info is not None else _aware(self.key.expires_at)

    @property
    def models(self) -> tuple[str, ...]:
        if self.info is not None:
            return self.info.models
        return tuple(m for m in (self.key.models or "").split(",") if m)

    @property
    def rpm_limit(self) -> int | None:
        return self.info.rpm_limit if self.info is not None else None

    @property
    def tpm_limit(self) -> int | None:
        return self.info.tpm_limit if self.info is not None else None


def window_name(budget_duration: str | None) -> str | None:
    """``"monthly"`` for ``1mo``; an unusual window as LiteLLM wrote it; None without one."""
    if not budget_duration:
        return None
    return WINDOW_NAMES.get(budget_duration, f"per {budget_duration}")


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=dt.UTC)
    return value


def _day(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else ""


def state_of(key: ApiKey, info: KeyInfo | None, gone: bool, now: dt.datetime) -> KeyState:
    """Why the key works or not, the most final reason first."""
    if key.revoked_at is not None:
        return KeyState("revoked", f"Revoked on {_day(_aware(key.revoked_at))}: LiteLLM "
                        "refuses it. Its usage history stays.")  # fmt: skip
    if gone or (info is not None and info.deleted):
        return KeyState("deleted in LiteLLM", "LiteLLM no longer has this key (it was deleted "
                        "outside the portal), so every request with it is refused.")  # fmt: skip
    if info is None:
        if key.is_expired:
            return KeyState("expired", f"Expired on {_day(_aware(key.expires_at))}.")
        return KeyState("active", "Active as far as the portal knows (LiteLLM did not answer).")
    if info.blocked:
        return KeyState("blocked", "Blocked in LiteLLM by an administrator: every request with "
                        "it is refused until it is unblocked.")  # fmt: skip
    if info.expires is not None and info.expires <= now:
        return KeyState("expired", f"Expired on {_day(info.expires)}: LiteLLM refuses it.")
    if info.max_budget is not None and info.spend >= info.max_budget:
        if info.budget_reset_at is not None:
            until = f"until the budget resets on {_day(info.budget_reset_at)}"
        else:
            until = "for good: this budget has no period, so it never resets"
        return KeyState("over budget", f"Spent ${info.spend:.2f} of ${info.max_budget:.2f}: "
                        f"LiteLLM refuses requests {until}.")  # fmt: skip
    return KeyState("active", "Active: LiteLLM accepts requests with this key.")


def _live(key: ApiKey) -> tuple[KeyInfo | None, bool, str | None]:
    """(info, gone from LiteLLM, error to show). A missing token id is looked up by alias
    first, as the keys list and /usage do (and written), so the pages never disagree."""
    try:
        if not key.litellm_token_id:
            resolve_token(key)
            db.session.refresh(key)
    except UnknownAlias:
        return (
            None,
            key.revoked_at is None,
            "LiteLLM lists no key under this key's name, so it cannot be asked about it.",
        )
    except LiteLLMError as exc:
        log.warning("key %s page without its token id: %s", key.id, exc.message)
        if isinstance(exc, LiteLLMUnavailable):
            return None, False, "LiteLLM is unreachable right now."
        return None, False, f"LiteLLM did not answer properly ({exc.message})."
    try:
        return litellm_client().key_info(key.litellm_token_id), False, None
    except LiteLLMNotFound:
        return None, key.revoked_at is None, None
    except LiteLLMError as exc:
        log.warning("key %s page without live figures: %s", key.id, exc.message)
        if isinstance(exc, LiteLLMUnavailable):
            return None, False, "LiteLLM is unreachable right now."
        return None, False, f"LiteLLM did not answer properly ({exc.message})."


def key_events(key: ApiKey, limit: int = AUDIT_EVENTS_SHOWN) -> tuple[AuditEvent, ...]:
    """The key's audit events, newest first."""
    return tuple(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.target_key_id == key.id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def key_detail(key: ApiKey) -> KeyDetail:
    """Everything the key page shows; LiteLLM failures become ``live_error`` /
    ``history_error`` messages, never exceptions."""
    info, gone, live_error = _live(key)
    seen = info.created_at if info is not None else None
    remember_litellm_created([key], {key.id: seen})
    try:
        history, history_error = history_of(key, seen), None
    except LiteLLMError as exc:
        log.warning("key %s page without usage history: %s", key.id, exc.message)
        history, history_error = None, "Usage history could not be read from LiteLLM."
    return KeyDetail(
        key=key,
        info=info,
        live_error=live_error,
        state=state_of(key, info, gone, utcnow()),
        history=history,
        history_error=history_error,
        events=key_events(key),
    )


def time_left(until: dt.datetime | None, now: dt.datetime | None = None) -> str | None:
    """ "in 3 days 4 hours" / "2 hours ago": the countdown next to an expiry or reset time."""
    if until is None:
        return None
    now = now or utcnow()
    delta = until - now
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        parts = [f"{days} day{'s' if days != 1 else ''}"]
        if hours:
            parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    elif hours:
        parts = [f"{hours} hour{'s' if hours != 1 else ''}"]
        if minutes:
            parts.append(f"{minutes} min")
    else:
        parts = [f"{max(minutes, 1)} min"]
    text = " ".join(parts)
    return f"in {text}" if delta.total_seconds() >= 0 else f"{text} ago"
