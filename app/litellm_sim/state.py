"""In-memory LiteLLM "database" plus fault-injection switches, shared by routes and tests."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from datetime import date, datetime
from typing import Any

from .durations import next_budget_reset
from .faults import Fault, FaultSwitches
from .fields import new_row
from .values import abbreviate, as_iso, hash_token, hash_token_if_needed, iso, parse_iso, utcnow
from .versions import DEFAULT_VERSION, parse_version, supports


class SimState(FaultSwitches):
    """Thread-safe store: live keys, deleted-key archive, daily spend rows, request log, faults.

    Routes take ``state.lock`` (re-entrant) around compound read-modify-write operations.
    """

    # What ``/models`` lists: the real proxy's configuration (scripts/real-litellm), in its order.
    DEFAULT_MODELS = ("mock-gpt", "mock-claude")

    def __init__(
        self,
        latency_ms: int = 0,
        batch_write_delay: float = 0.0,
        version: str = DEFAULT_VERSION,
    ) -> None:
        parse_version(version)
        self.lock = threading.RLock()
        self._initial = {
            "latency_ms": latency_ms,
            "batch_write_delay": float(batch_write_delay),
            "version": version,
        }
        self._ids = itertools.count(1)
        self.keys: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self.rows: list[dict[str, Any]] = []
        self.pending: list[tuple[float, dict[str, Any]]] = []  # (monotonic due time, row)
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        # Bumped whenever the usage rows change: paginated listings reuse their sorted rows
        # between pages of one query only while it stays the same.
        self.rows_generation = 0
        self.sorted_rows: tuple[tuple, list[dict[str, Any]]] | None = None
        self.filtered_rows: tuple[tuple, list[dict[str, Any]]] | None = None
        self._clear_switches()

    def _clear_switches(self) -> None:
        self.faults: list[Fault] = []
        self.garbage: dict[str, str] = {}
        self.never_ending: set[str] = set()
        self._release_hangs()
        self._aggregated_switch = True
        self.ignore_user_filter = False
        self.substring_matching = False
        self.enterprise = False
        self.latency_ms = self._initial["latency_ms"]
        self.batch_write_delay = self._initial["batch_write_delay"]
        self.version = self._initial["version"]
        self.models: list[str] = list(self.DEFAULT_MODELS)

    # -- housekeeping -------------------------------------------------------------------------
    def reset(self) -> None:
        """Clear keys, archive, usage rows, call log, faults and switches (latency, batch-write
        delay and version back to the constructor's values)."""
        with self.lock:
            self.keys.clear()
            self.deleted.clear()
            self.rows.clear()
            self.rows_generation += 1
            self.sorted_rows = self.filtered_rows = None
            self.pending.clear()
            self.calls.clear()
            self._clear_switches()

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
            "expires": as_iso(expires),
            "blocked": blocked,
            "key_type": "default",
        }
        if created_at is not None:
            fields["created_at"] = fields["updated_at"] = as_iso(created_at)
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
                id=str(uuid.uuid4()),
                deleted_at=now,
                deleted_by=deleted_by,
                deleted_by_api_key="litellm_proxy_master_key",  # the portal deletes as admin
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
            # /key/generate creates no LiteLLM user, so there is no e-mail to join.
            "user_email": None,
            "key_exists": exists,
        }

    def regenerate_key(self, token: str, new_secret: str | None = None) -> dict[str, Any]:
        """Enterprise ``/key/regenerate``: the same row under a new secret and token hash.

        The old hash goes to the deleted-key archive (so it stops authenticating); usage already
        recorded stays under the old hash. KeyError when ``token`` is not a live key.
        """
        new_secret = new_secret or "sk-" + secrets.token_urlsafe(16)
        with self.lock:
            row = dict(self.keys[token])
            self.archive_key(token)
            now = iso(utcnow())
            row.update(
                token=hash_token(new_secret),
                key_name=abbreviate(new_secret),
                updated_at=now,
                last_rotation_at=now,
                rotation_count=(row.get("rotation_count") or 0) + 1,
            )
            self.keys[row["token"]] = row
        return {**row, "key": new_secret}

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
        """Record one LiteLLM_DailyUserSpend row; ``user_id`` defaults to the key's owner.

        Like LiteLLM's request logging it also adds ``spend`` to the key's ``spend`` and
        ``total_spend``. With a batch-write delay the row and the spend become visible only that
        many seconds later, as LiteLLM's batch writer makes them. ``token=""`` records an
        unattributed row.
        """
        day = date if isinstance(date, str) else date.isoformat()
        with self.lock:
            owner = (self.keys.get(token) or self.deleted.get(token) or {}).get("user_id")
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
            if self.batch_write_delay > 0:
                self.pending.append((time.monotonic() + self.batch_write_delay, row))
            else:
                self._write(row)
        return dict(row)

    def _write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.rows_generation += 1
        key = self.keys.get(row["api_key"])
        if key is not None:
            key["spend"] = (key["spend"] or 0.0) + row["spend"]
            key["total_spend"] = (key["total_spend"] or 0.0) + row["spend"]
            key["last_active"] = iso(utcnow())

    def flush_usage(self, everything: bool = False) -> int:
        """Write the delayed rows that are due (all of them with ``everything``); returns how
        many were written. The app calls this before serving each request."""
        now = time.monotonic()
        with self.lock:
            due = [r for t, r in self.pending if everything or t <= now]
            self.pending = [(t, r) for t, r in self.pending if not (everything or t <= now)]
            for row in due:
                self._write(row)
        return len(due)

    def reset_budgets(self) -> None:
        """LiteLLM's budget-reset job: a key whose ``budget_reset_at`` has passed gets ``spend``
        0 and its next reset time (``total_spend`` and usage rows are kept). LiteLLM runs the
        job about every 10 minutes; the simulator runs it before every request."""
        now = utcnow()
        with self.lock:
            for key in self.keys.values():
                due = key.get("budget_reset_at")
                if due and key.get("budget_duration") and parse_iso(due) <= now:
                    key["spend"] = 0.0
                    key["budget_reset_at"] = iso(next_budget_reset(now, key["budget_duration"]))

    def supports(self, feature: str) -> bool:
        """Whether the imitated LiteLLM release has ``feature`` (see ``versions.FEATURES``)."""
        return supports(self.version, feature)

    # -- release and behaviour switches --------------------------------------------------------
    @property
    def aggregated_available(self) -> bool:
        """Whether /user/daily/activity/aggregated is served (else 404)."""
        return self._aggregated_switch and self.supports("aggregated")

    def set_aggregated_available(self, available: bool) -> None:
        """False → /user/daily/activity/aggregated answers 404 like proxies before 1.76."""
        with self.lock:
            self._aggregated_switch = bool(available)

    def set_version(self, version: str) -> None:
        """Imitate LiteLLM ``version`` (e.g. ``"1.75.0"``) where releases differ."""
        parse_version(version)
        with self.lock:
            self.version = version

    def set_enterprise(self, enabled: bool) -> None:
        """True → /key/regenerate works (a licensed proxy); False → 500 as on open source."""
        with self.lock:
            self.enterprise = bool(enabled)

    def set_batch_write_delay(self, seconds: float) -> None:
        """Usage and spend recorded from now on become visible ``seconds`` later."""
        with self.lock:
            self.batch_write_delay = max(0.0, float(seconds))

    def set_ignore_user_filter(self, enabled: bool) -> None:
        """True → daily activity ignores ``user_id`` (a buggy proxy, for isolation tests)."""
        with self.lock:
            self.ignore_user_filter = bool(enabled)

    def set_substring_matching(self, enabled: bool) -> None:
        """True → /key/list matches user_id/key_alias by case-insensitive substring (1.84–1.89)."""
        with self.lock:
            self.substring_matching = bool(enabled)
