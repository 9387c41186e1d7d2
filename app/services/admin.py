"""Admin views across users: usage of everyone, any user's keys, the audit trail.

"All users" usage is ONE daily-activity query without ``user_id`` (the master key sees every
user), of which only entries for token ids the portal knows are counted and attributed to
their owner through ``api_keys``. Per-user calls would cost one request per user on every page
view; the single query costs the same whatever the number of users. When LiteLLM cuts its
per-key lists (``api_key_limit``, an organisation with more keys than that), the client reads
the rows endpoint instead, in windows of days, never one call per key; the day cache keeps
every day it fetched. Keys whose token id is not stored yet are listed as not counted
(``flask backfill-tokens``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from app.calendar_bounds import OUT_OF_RANGE, in_calendar, parse_day
from app.csv_cells import SafeWriter
from app.emails import normalize_email
from app.extensions import db
from app.models import ApiKey, AuditEvent, User, key_status, utcnow
from app.services.lineage import Lineage, as_utc, read_lineage
from app.services.litellm import Metrics
from app.services.litellm.cache import MISSING, ParsedMemo
from app.services.usage import UsageReport, accumulate_tokens, rotation_markers

AUDIT_PAGE_SIZE = 50
_ZERO = Metrics()


@dataclass(frozen=True)
class UserRow:
    """One user in the admin users table: keys and spend (all metrics) in the range."""

    id: int
    email: str
    is_admin: bool
    keys: int
    active_keys: int
    uncounted_keys: int  # no token id stored: usage cannot be attributed yet
    metrics: Metrics


@dataclass(frozen=True)
class KeyRow:
    """One key in the admin keys table: its owner and its usage in the range."""

    id: int
    label: str
    alias: str
    user_id: int
    email: str
    status: str
    token_known: bool
    metrics: Metrics


@dataclass(frozen=True)
class AllUsersReport:
    """Usage of every portal key in the range, plus the per-user and per-key tables' rows."""

    report: UsageReport
    users: tuple[UserRow, ...]
    keys: tuple[KeyRow, ...] = ()

    @property
    def uncounted_keys(self) -> int:
        return sum(u.uncounted_keys for u in self.users)


def all_users() -> tuple:
    """Every user's id, email and admin flag, by email (for the filter list and the users
    table): plain named tuples, not ORM objects (an organisation has hundreds)."""
    return tuple(_UserColumns._make(r) for r in db.session.execute(_USER_ROWS))


def get_user(user_id: int) -> User | None:
    """The user with this id, or None."""
    return db.session.get(User, user_id)


def get_key(key_id: int) -> ApiKey | None:
    """Any user's key with this id (admins only), or None."""
    return db.session.get(ApiKey, key_id)


# The columns the all-users report reads: plain rows, not ORM objects (thousands of keys).
_KEY_ROWS = sa.select(
    ApiKey.id,
    ApiKey.label,
    ApiKey.alias,
    ApiKey.user_id,
    ApiKey.litellm_token_id,
    ApiKey.revoked_at,
    ApiKey.expires_at,
).order_by(ApiKey.id)


def usage_for_all_users(
    start: dt.date, end: dt.date, *, refresh: bool = False, client=None
) -> AllUsersReport:
    """Usage of every user's keys over ``start..end`` (see the module docstring for the calls).

    The users' and keys' rows are memoised per process by the sums they come from and the
    user and key rows read (a warm view of an organisation builds none of its 10,000 rows).
    Raises ``LiteLLMError`` when LiteLLM cannot answer.
    """
    if client is None:
        from app.services import litellm_client

        client = litellm_client()
    # Named tuples, not SQLAlchemy rows: they are compared as a memo key on every view.
    users = all_users()
    keys = tuple(_KeyColumns._make(r) for r in db.session.execute(_KEY_ROWS))
    lineage = read_lineage(keys)  # every token of every key, rotated ones included
    acc = accumulate_tokens(client, start, end, lineage.key_by_token, refresh=refresh)
    now = utcnow()
    memo_key = None if acc.sums_key is None else (acc.sums_key, users, keys)
    found = _ROWS.get(memo_key) if memo_key is not None else MISSING
    if found is MISSING or (found.expires_next is not None and found.expires_next <= now):
        found = _rows(users, keys, acc, lineage, start, end, now)
        if memo_key is not None:
            _ROWS.put(memo_key, found)
    report = acc.report(key=None, keys=())
    if found.markers:
        report = dataclasses.replace(report, markers=found.markers)
    return AllUsersReport(report=report, users=found.users, keys=found.keys)


@dataclass(frozen=True)
class _Rows:
    users: tuple[UserRow, ...]
    keys: tuple[KeyRow, ...]
    markers: tuple
    expires_next: dt.datetime | None  # the statuses hold until this key expires


# The tables of the last few organisation views (each holds one row per key).
_ROWS = ParsedMemo(4)
# The columns the all-users report reads: plain rows, not ORM objects (thousands of keys).
_UserColumns = namedtuple("_UserColumns", "id email is_admin")
_USER_ROWS = sa.select(User.id, User.email, User.is_admin).order_by(User.email)
_KeyColumns = namedtuple(
    "_KeyColumns", "id label alias user_id litellm_token_id revoked_at expires_at"
)
_KEY_ROWS = sa.select(*(getattr(ApiKey, name) for name in _KeyColumns._fields)).order_by(ApiKey.id)


def _rows(
    users, keys, acc, lineage: Lineage, start: dt.date, end: dt.date, now: dt.datetime
) -> _Rows:
    email_of = {u.id: u.email for u in users}
    keys_of: dict[int, list[KeyRow]] = {}
    key_rows = []
    for key in keys:
        row = KeyRow(
            id=key.id,
            label=key.label,
            alias=key.alias,
            user_id=key.user_id,
            email=email_of.get(key.user_id, ""),
            status=key_status(key.revoked_at, key.expires_at, now),
            token_known=bool(key.litellm_token_id),
            metrics=acc.per_key.get(key.id, _ZERO),
        )
        key_rows.append(row)
        keys_of.setdefault(key.user_id, []).append(row)
    rows = []
    for user in users:
        mine = keys_of.get(user.id, [])
        rows.append(
            UserRow(
                id=user.id,
                email=user.email,
                is_admin=user.is_admin,
                keys=len(mine),
                active_keys=sum(1 for k in mine if k.status == "active"),
                uncounted_keys=sum(1 for k in mine if not k.token_known),
                metrics=Metrics.sum(k.metrics for k in mine),
            )
        )
    rows.sort(key=lambda r: (-r.metrics.spend, r.email))
    markers = rotation_markers(lineage, start, end)
    expiring = [as_utc(k.expires_at) for k in keys if k.revoked_at is None and k.expires_at]
    return _Rows(
        users=tuple(rows),
        keys=tuple(key_rows),
        markers=markers,
        expires_next=min((e for e in expiring if e > now), default=None),
    )


# --- audit ---------------------------------------------------------------------------------

# Token ids (64 hex characters) in event details are shown by their first characters only.
SHORT_TOKEN = 10
AUDIT_CSV_LIMIT = 100_000


class InvalidAuditFilter(ValueError):
    """The audit filters cannot be applied; ``errors`` maps each filter to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class AuditFilters:
    """What the audit trail is narrowed to: one action, one user (actor or target), UTC days."""

    action: str | None = None
    email: str = ""
    user: User | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> AuditFilters:
        """Read ``action``, ``user`` (an email), ``start`` and ``end`` (YYYY-MM-DD); raise
        :class:`InvalidAuditFilter` naming every filter that cannot be used."""
        errors: dict[str, str] = {}
        action = (args.get("action") or "").strip()[:64] or None
        email = (args.get("user") or "").strip()[:320]
        user = find_user_by_email(email) if email else None  # unknown: nothing matches
        dates: dict[str, dt.date | None] = {}
        for name, label in (("start", "From"), ("end", "To")):
            raw = (args.get(name) or "").strip()
            dates[name] = parse_day(raw) if raw else None
            if raw and dates[name] is None:
                errors[name] = (
                    f"{label}: {OUT_OF_RANGE}"
                    if not in_calendar(raw)
                    else f"{label}: enter a date as YYYY-MM-DD (e.g. 2026-11-30)."
                )
        start, end = dates["start"], dates["end"]
        if start and end and start > end:
            errors["end"] = "To must be on or after From."
        if errors:
            raise InvalidAuditFilter(errors)
        return cls(action, email, user, start, end)

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments (for pager and export links)."""
        args = {
            "action": self.action or "",
            "user": self.email,
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
        }
        return {k: v for k, v in args.items() if v}


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    page: int
    pages: int
    total: int
    actions: tuple[str, ...]  # every action recorded so far, for the filter


def _audit_statement(filters: AuditFilters) -> sa.Select:
    statement = sa.select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if filters.action:
        statement = statement.where(AuditEvent.action == filters.action)
    if filters.email and filters.user is None:
        statement = statement.where(sa.false())
    if filters.user is not None:
        uid = filters.user.id
        statement = statement.where(
            sa.or_(AuditEvent.actor_user_id == uid, AuditEvent.target_user_id == uid)
        )
    if filters.start is not None:
        since = dt.datetime.combine(filters.start, dt.time(), tzinfo=dt.UTC)
        statement = statement.where(AuditEvent.created_at >= since)
    if filters.end is not None:
        until = dt.datetime.combine(filters.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        statement = statement.where(AuditEvent.created_at < until)
    return statement


def audit_events(filters: AuditFilters | None = None, *, page: int = 1) -> AuditPage:
    """Audit events newest first, narrowed by ``filters``."""
    statement = _audit_statement(filters or AuditFilters())
    result = db.paginate(statement, page=page, per_page=AUDIT_PAGE_SIZE, error_out=False)
    return AuditPage(
        events=tuple(result.items),
        page=result.page,
        pages=max(result.pages, 1),
        total=result.total or 0,
        actions=audit_actions(),
    )


def audit_actions() -> tuple[str, ...]:
    """Every action recorded so far, for the filter list."""
    return tuple(
        db.session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def short_token(value: str | None) -> str | None:
    """A token id cut to its first characters (enough to tell keys apart on screen)."""
    if value and len(value) > SHORT_TOKEN:
        return value[:SHORT_TOKEN] + "…"
    return value


def detail_fields(event: AuditEvent) -> tuple[tuple[str, str], ...]:
    """An event's detail as (name, value) pairs, token ids shortened; text that is not a JSON
    object is one ``detail`` field."""
    if not event.detail:
        return ()
    try:
        data = json.loads(event.detail)
    except ValueError:
        return (("detail", event.detail),)
    if not isinstance(data, dict):
        return (("detail", event.detail),)
    fields = []
    for name, value in data.items():
        if isinstance(value, bool):
            text = "yes" if value else "no"  # not Python's True/False
        elif isinstance(value, dict | list):
            text = json.dumps(value)
        else:
            text = str(value)
            if _MOMENT_RE.match(text):  # "2026-12-07 16:12:17.230784" → "2026-12-07 16:12 UTC"
                text = f"{text[:10]} {text[11:16]} UTC"
        if "token" in name:
            text = short_token(text) or ""
        fields.append((name.replace("_", " "), text))
    return tuple(fields)


_MOMENT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$")


AUDIT_CSV_COLUMNS = ("when_utc", "action", "by", "user", "key_label", "key_token", "detail")


def audit_csv(filters: AuditFilters) -> str:
    """The filtered audit trail as CSV (header first), newest first, with full token ids.

    Built whole, not streamed: a stream would keep the read transaction open until the client
    has read it all, and on SQLite that blocks writers meanwhile.
    """
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for event in db.session.scalars(_audit_statement(filters).limit(AUDIT_CSV_LIMIT)):
        key = event.target_key
        writer.writerow(
            (
                event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.action,
                event.actor.email if event.actor else "",
                event.target_user.email if event.target_user else "",
                key.label if key else "",
                (key.litellm_token_id or "") if key else "",
                event.detail or "",
            )
        )
    return buffer.getvalue()


def find_user_by_email(email: str) -> User | None:
    """The user with exactly this email (compared as sign-in compares it), or None."""
    normalized = normalize_email(email)
    if normalized is None:
        return None
    return db.session.scalar(sa.select(User).where(User.email == normalized))
