"""In-memory LiteLLM "database" plus fault-injection switches, shared by routes and tests."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .fields import new_row

GARBAGE_KINDS = ("html", "truncated")


def hash_token(secret: str) -> str:
    """LiteLLM's token id: sha256 hex of the raw key, no salt (``hash_token``)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_token_if_needed(value: str) -> str:
    """Only values starting with ``sk-`` are hashed; anything else is taken as the hash."""
    return hash_token(value) if value.startswith("sk-") else value


def abbreviate(secret: str) -> str:
    """``key_name`` display form: ``sk-...`` + last 4 characters."""
    return "sk-..." + secret[-4:] if len(secret) > 4 else "sk-..."


def iso(dt: datetime) -> str:
    """Serialize an aware datetime like pydantic v2 does for UTC: ISO-8601 with ``Z``."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse an ISO datetime (``Z`` allowed); naive values are taken as UTC."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Current aware UTC time (one place to patch in tests)."""
    return datetime.now(UTC)


def _as_iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    return iso(value) if isinstance(value, datetime) else iso(parse_iso(value))


@dataclass
class Fault:
    """An injected error for routes whose path starts with ``prefix``."""

    prefix: str
    status: int
    body: Any = None
    times: int | None = None  # None = until cleared


class SimState:
    """Thread-safe store: live keys, deleted-key archive, daily spend rows, request log, faults.

    Routes take ``state.lock`` (re-entrant) around compound read-modify-write operations.
    """

    def __init__(self, latency_ms: int = 0) -> None:
        self.lock = threading.RLock()
        self._initial_latency_ms = latency_ms
        self._ids = itertools.count(1)
        self.keys: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self.rows: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self._clear_switches()
        self.latency_ms = latency_ms

    def _clear_switches(self) -> None:
        self.faults: list[Fault] = []
        self.garbage: dict[str, str] = {}
        self.never_ending: set[str] = set()
        self.hangs: dict[str, float] = {}
        # Set when the hangs are cleared, so requests held by one answer at once.
        self._hang_released = threading.Event()
        self.aggregated_available = True
        self.ignore_user_filter = False
        self.substring_matching = False

    # -- housekeeping -------------------------------------------------------------------------
    def reset(self) -> None:
        """Clear keys, archive, usage rows, call log, faults and switches (latency → initial)."""
        with self.lock:
            self.keys.clear()
            self.deleted.clear()
            self.rows.clear()
            self.calls.clear()
            self._release_hangs()
            self._clear_switches()
            self.latency_ms = self._initial_latency_ms

    def record_call(self, method: str, path: str, query: dict[str, str]) -> None:
        """Append one served request to the call log."""
        with self.lock:
            self.calls.append((method, path, dict(query)))

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Number of logged requests, optionally only for an exact path and/or method."""
        with self.lock:
            return sum(
                1
                for m, p, _ in self.calls
                if (path is None or p == path) and (method is None or m == method.upper())
            )

    def reset_calls(self) -> None:
        """Forget the request log."""
        with self.lock:
            self.calls.clear()

    # -- keys ---------------------------------------------------------------------------------
    def alias_taken(self, alias: str | None, exclude_token: str | None = None) -> bool:
        """True when a live key other than ``exclude_token`` already uses ``alias``."""
        if alias is None:
            return False
        with self.lock:
            return any(r["key_alias"] == alias and t != exclude_token for t, r in self.keys.items())

    def insert_key(self, secret: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Store a new key row for ``secret`` with ``fields`` overlaid; returns the row."""
        now = iso(utcnow())
        row = new_row()
        row.update(
            token=hash_token(secret),
            key_name=abbreviate(secret),
            created_at=now,
            updated_at=now,
            created_by="default_user_id",
            updated_by="default_user_id",
        )
        row.update(fields)
        with self.lock:
            if row["token"] in self.keys:
                raise ValueError("a key with this secret already exists")
            if self.alias_taken(row.get("key_alias")):
                raise ValueError(f"Key with alias '{row['key_alias']}' already exists.")
            self.keys[row["token"]] = row
        return row

    def add_key(
        self,
        *,
        key_alias: str | None,
        user_id: str | None,
        secret: str | None = None,
        models: tuple[str, ...] | list[str] = (),
        max_budget: float | None = None,
        metadata: dict[str, Any] | None = None,
        created_at: datetime | str | None = None,
        expires: datetime | str | None = None,
        blocked: bool | None = None,
    ) -> dict[str, Any]:
        """Insert a key directly (no HTTP); returns a copy of the stored row plus ``key``.

        ``token`` is sha256(secret); a secret ``sk-<token_urlsafe(16)>`` is generated when None.
        Raises ValueError on a duplicate alias, like LiteLLM's unique-alias rule.
        """
        secret = secret or "sk-" + secrets.token_urlsafe(16)
        fields: dict[str, Any] = {
            "key_alias": key_alias,
            "user_id": user_id,
            "models": list(models),
            "max_budget": max_budget,
            "metadata": dict(metadata or {}),
            "expires": _as_iso(expires),
            "blocked": blocked,
            "key_type": "default",
        }
        if created_at is not None:
            fields["created_at"] = fields["updated_at"] = _as_iso(created_at)
        row = self.insert_key(secret, fields)
        return {**row, "key": secret}

    def find_key(self, value: str) -> dict[str, Any] | None:
        """Live key by raw ``sk-`` value or hash (``hash_token_if_needed``)."""
        with self.lock:
            return self.keys.get(hash_token_if_needed(value))

    def find_by_alias(self, alias: str) -> list[dict[str, Any]]:
        """Live keys whose alias equals ``alias`` exactly."""
        with self.lock:
            return [r for r in self.keys.values() if r["key_alias"] == alias]

    def archive_key(self, token: str, deleted_by: str = "default_user_id") -> None:
        """Move a live key to the deleted-key archive (LiteLLM_DeletedVerificationToken)."""
        with self.lock:
            row = self.keys.pop(token)
            now = iso(utcnow())
            row.update(
                id=f"deleted-{next(self._ids)}",
                deleted_at=now,
                deleted_by=deleted_by,
                deleted_by_api_key=None,
                litellm_changed_by=None,
            )
            self.deleted[token] = row

    def key_meta(self, token: str) -> dict[str, Any]:
        """KeyMetadata for a token as the proxy resolves it: live table, then archive."""
        with self.lock:
            row = self.keys.get(token)
            exists = row is not None
            row = row or self.deleted.get(token)
        if row is None:
            return {
                "key_alias": None,
                "team_id": None,
                "user_id": None,
                "user_email": None,
                "key_exists": False,
            }
        return {
            "key_alias": row["key_alias"],
            "team_id": row["team_id"],
            "user_id": row["user_id"],
            "user_email": user_email(row["user_id"]),
            "key_exists": exists,
        }

    # -- usage --------------------------------------------------------------------------------
    def add_usage(
        self,
        *,
        token: str,
        date: date | str,
        model: str | None,
        provider: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        spend: float,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        successful_requests: int = 1,
        failed_requests: int = 0,
        user_id: str | None = None,
        endpoint: str = "/chat/completions",
        model_group: str | None = None,
        total_response_time_ms: int = 0,
        timed_requests: int = 0,
    ) -> dict[str, Any]:
        """Append one LiteLLM_DailyUserSpend row; ``user_id`` defaults to the key's owner.

        Also adds ``spend`` to the live key's ``spend``/``total_spend`` like request logging.
        ``token=""`` records an unattributed row.
        """
        day = date if isinstance(date, str) else date.isoformat()
        with self.lock:
            key = self.keys.get(token)
            owner = (key or self.deleted.get(token) or {}).get("user_id")
            row = {
                "id": next(self._ids),
                "date": day,
                "user_id": user_id if user_id is not None else (owner or ""),
                "api_key": token,
                "model": model,
                "model_group": model_group,
                "custom_llm_provider": provider,
                "endpoint": endpoint,
                "mcp_namespaced_tool_name": None,
                "spend": float(spend),
                "prompt_tokens": int(prompt_tokens),
                "completion_tokens": int(completion_tokens),
                "cache_read_input_tokens": int(cache_read_input_tokens),
                "cache_creation_input_tokens": int(cache_creation_input_tokens),
                "successful_requests": int(successful_requests),
                "failed_requests": int(failed_requests),
                "total_response_time_ms": int(total_response_time_ms),
                "timed_requests": int(timed_requests),
            }
            self.rows.append(row)
            if key is not None:
                key["spend"] = (key["spend"] or 0.0) + float(spend)
                key["total_spend"] = (key["total_spend"] or 0.0) + float(spend)
        return dict(row)

    # -- faults -------------------------------------------------------------------------------
    def set_latency(self, ms: int) -> None:
        """Delay every (non-control) response by ``ms`` milliseconds."""
        with self.lock:
            self.latency_ms = max(0, int(ms))

    def set_fault(
        self, path_prefix: str, status: int, body: Any = None, times: int | None = None
    ) -> None:
        """Answer ``status`` (LiteLLM-shaped error body unless ``body``) for matching paths.

        ``times`` limits the fault to the next N matching requests.
        """
        with self.lock:
            self.faults.append(Fault(path_prefix, int(status), body, times))

    def clear_faults(self) -> None:
        """Remove injected faults, garbage, hangs (releasing held requests) and never-ending
        pages; data and latency stay."""
        with self.lock:
            self.faults.clear()
            self.garbage.clear()
            self.never_ending.clear()
            self._release_hangs()

    def take_fault(self, path: str) -> Fault | None:
        """The first fault matching ``path``, consuming one of its ``times``."""
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.prefix):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def set_garbage(self, path_prefix: str, kind: str) -> None:
        """Answer 200 with an HTML page (``html``) or cut-off JSON (``truncated``)."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"kind must be one of {GARBAGE_KINDS}")
        with self.lock:
            self.garbage[path_prefix] = kind

    def garbage_for(self, path: str) -> str | None:
        """Garbage kind configured for ``path`` (longest matching prefix), if any."""
        with self.lock:
            hits = [p for p in self.garbage if path.startswith(p)]
            return self.garbage[max(hits, key=len)] if hits else None

    def set_hang(self, path_prefix: str, seconds: float) -> None:
        """Hold matching requests up to ``seconds`` (or until faults are cleared), then answer
        them normally: an upstream that stops answering for a while."""
        with self.lock:
            self.hangs[path_prefix] = max(0.0, float(seconds))

    def hang_for(self, path: str) -> float:
        """Seconds to hold a request on ``path`` (longest matching prefix), 0 when none."""
        with self.lock:
            hits = [p for p in self.hangs if path.startswith(p)]
            return self.hangs[max(hits, key=len)] if hits else 0.0

    def wait_hang(self, path: str) -> None:
        """Hold the calling request as configured for ``path``; returns early on a clear."""
        seconds = self.hang_for(path)
        if seconds:
            with self.lock:
                released = self._hang_released
            released.wait(seconds)

    def _release_hangs(self) -> None:
        with self.lock:
            self.hangs.clear()
            self._hang_released.set()
            self._hang_released = threading.Event()

    def set_never_ending_pages(self, path_prefix: str, enabled: bool = True) -> None:
        """Paginated responses on matching paths always claim more pages."""
        with self.lock:
            (self.never_ending.add if enabled else self.never_ending.discard)(path_prefix)

    def never_ending_for(self, path: str) -> bool:
        """Whether never-ending pagination is switched on for ``path``."""
        with self.lock:
            return any(path.startswith(p) for p in self.never_ending)

    def set_aggregated_available(self, available: bool) -> None:
        """False → /user/daily/activity/aggregated answers 404 like proxies before 1.77."""
        with self.lock:
            self.aggregated_available = bool(available)

    def set_ignore_user_filter(self, enabled: bool) -> None:
        """True → daily activity ignores ``user_id`` (a buggy proxy, for isolation tests)."""
        with self.lock:
            self.ignore_user_filter = bool(enabled)

    def set_substring_matching(self, enabled: bool) -> None:
        """True → /key/list matches user_id/key_alias by case-insensitive substring (1.84–1.89)."""
        with self.lock:
            self.substring_matching = bool(enabled)


def user_email(user_id: str | None) -> str | None:
    """The sim has no user table; the portal uses the e-mail as user_id, so echo it back."""
    return user_id if user_id and "@" in user_id else None
