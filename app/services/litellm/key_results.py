"""Key results of the LiteLLM client (``/key/list``, ``/key/generate``, ``/key/info``) and their
parsers, plus the token-hash helpers that tie a raw ``sk-`` secret to LiteLLM's key id.

The ONE place where key JSON is read. Tolerant like the usage parsers: unknown
fields are ignored, a null spend is 0, a bad budget is no budget; unreadable shapes and a token id
that does not match the secret raise :class:`~.parsing.ShapeError`.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .parsing import ShapeError, as_number, frozen_map, opt_float, opt_str, parse_datetime

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def is_token_hash(value: Any) -> bool:
    """True for a lowercase 64-hex sha256 digest, the form LiteLLM uses as key id."""
    return isinstance(value, str) and bool(_HEX64.match(value))


def hash_secret(secret: str) -> str:
    """LiteLLM's ``hash_token``: sha256 hex of the raw ``sk-`` key, no salt (the key's id)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _models(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(m) for m in value)
    return ()


def _opt_limit(value: Any) -> int | None:
    """A rate limit: a whole number ≥ 0, or None (no limit) for null and unreadable values."""
    number = opt_float(value)
    return None if number is None else int(number)


def _key_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a ``/key/list`` object and ``/key/info``'s ``info`` share, parsed alike, so
    the two results cannot drift apart (a null spend is 0, a bad budget is no budget)."""
    metadata = raw.get("metadata")
    return {
        "expires": parse_datetime(raw.get("expires")),
        "blocked": bool(raw.get("blocked")),
        "created_at": parse_datetime(raw.get("created_at")),
        "budget_duration": opt_str(raw.get("budget_duration")) or None,
        "budget_reset_at": parse_datetime(raw.get("budget_reset_at")),
        "rpm_limit": _opt_limit(raw.get("rpm_limit")),
        "tpm_limit": _opt_limit(raw.get("tpm_limit")),
        "key_alias": opt_str(raw.get("key_alias")),
        "key_name": opt_str(raw.get("key_name")),
        "user_id": opt_str(raw.get("user_id")),
        "spend": float(as_number(raw.get("spend"), float, "spend")),
        "max_budget": opt_float(raw.get("max_budget")),
        "models": _models(raw.get("models")),
        # Read-only: the client hands one parsed answer to every view reading the same entry.
        "metadata": frozen_map(metadata if isinstance(metadata, Mapping) else None),
    }


@dataclass(frozen=True)
class KeyRecord:
    """One virtual key as listed by ``/key/list?return_full_object=true``. ``token`` is the
    sha256 hash (the key id); the raw secret is never available here."""

    token: str
    key_alias: str | None
    key_name: str | None
    user_id: str | None
    spend: float
    max_budget: float | None
    expires: dt.datetime | None
    models: tuple[str, ...]
    metadata: Mapping[str, Any]
    blocked: bool
    created_at: dt.datetime | None
    # The budget window: ``spend`` is what was spent since the last reset when it is set.
    budget_duration: str | None = None
    budget_reset_at: dt.datetime | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None


def parse_key_record(raw: Any) -> KeyRecord:
    """One full key object (``UserAPIKeyAuth``)."""
    if not isinstance(raw, Mapping):
        raise ShapeError("key list items are not objects (return_full_object=true was ignored?)")
    token = raw.get("token")
    if not isinstance(token, str) or not token:
        raise ShapeError("key object without 'token'")
    return KeyRecord(token=token, **_key_fields(raw))


@dataclass(frozen=True)
class KeyListBody:
    """One ``/key/list`` answer as LiteLLM sent it, parsed (before the equality post-filter).

    ``has_totals`` is False for proxies that send no ``total_pages``: the caller then keeps
    going while pages are full."""

    records: tuple[KeyRecord, ...]
    total_pages: int
    total_count: int
    has_totals: bool

    def matching(self, user_id: str | None, key_alias: str | None) -> tuple[KeyRecord, ...]:
        """The records whose ``user_id`` / ``key_alias`` equal the ones asked for (``None``:
        any). Some LiteLLM versions matched these filters as substrings."""
        return tuple(
            r
            for r in self.records
            if (user_id is None or r.user_id == user_id)
            and (key_alias is None or r.key_alias == key_alias)
        )

    def is_last_page(self, page: int, page_size: int) -> bool:
        """Whether page ``page`` (of ``page_size`` items asked for) ends the listing: it is
        empty, or the last by ``total_pages``, or (without totals) not full."""
        if not self.records:
            return True
        if not self.has_totals:
            return len(self.records) < page_size
        return page >= self.total_pages


def parse_key_list(body: Any) -> KeyListBody:
    """Parse ``{"keys": [...], "total_pages": …, "total_count": …}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("keys"), list):
        raise ShapeError("expected an object with a 'keys' list")
    return KeyListBody(
        records=tuple(parse_key_record(item) for item in body["keys"]),
        total_pages=int(as_number(body.get("total_pages"), int, "total_pages")),
        total_count=int(as_number(body.get("total_count"), int, "total_count")),
        has_totals=body.get("total_pages") is not None,
    )


@dataclass(frozen=True)
class KeyPage:
    """One page of ``/key/list`` after the client-side equality post-filter.

    ``fetched_at`` is when this page left LiteLLM (UTC).
    """

    keys: tuple[KeyRecord, ...]
    page: int
    total_pages: int
    total_count: int
    from_cache: bool = False
    stale: bool = False
    fetched_at: dt.datetime | None = None


@dataclass(frozen=True)
class KeyListResult:
    """All keys matching a :meth:`LiteLLMClient.list_keys` call.

    ``keys`` are de-duplicated by token in LiteLLM's order (``created_at desc``); ``pages`` is the
    number of pages fetched; ``total_count`` is LiteLLM's count for the upstream filter (it may
    exceed ``len(keys)`` on versions that matched substrings); ``fetched_at`` is the oldest page's
    fetch time. Iterating yields the keys.
    """

    keys: tuple[KeyRecord, ...]
    pages: int
    total_count: int
    fetched_at: dt.datetime | None = None
    from_cache: bool = False
    stale: bool = False

    @classmethod
    def from_pages(cls, pages: Iterable[KeyPage]) -> KeyListResult:
        """Merge the pages of one listing: de-duplicated by token, first seen wins."""
        seen: dict[str, KeyRecord] = {}
        count = total_count = 0
        from_cache, stale = True, False
        fetched_at: dt.datetime | None = None
        for page in pages:
            count += 1
            if page.page == 1:
                total_count = page.total_count
            from_cache = from_cache and page.from_cache
            stale = stale or page.stale
            if page.fetched_at and (fetched_at is None or page.fetched_at < fetched_at):
                fetched_at = page.fetched_at
            for record in page.keys:
                seen.setdefault(record.token, record)
        return cls(tuple(seen.values()), count, total_count, fetched_at, from_cache, stale)

    def __iter__(self) -> Iterator[KeyRecord]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def by_alias(self) -> dict[str, KeyRecord]:
        """Keys indexed by ``key_alias`` (keys without alias are skipped)."""
        return {k.key_alias: k for k in self.keys if k.key_alias is not None}


@dataclass(frozen=True)
class KeyInfo:
    """One key as ``GET /key/info`` describes it now (LiteLLM leaves the token id out).

    ``status`` is LiteLLM's own word (``active``, ``expired``, ``revoked``, ``deleted``) on
    releases that send one (~1.106+), else None. ``deleted`` is True when LiteLLM described the
    key from its archive of deleted keys. ``last_active`` is None on most releases.
    """

    key_alias: str | None
    key_name: str | None
    user_id: str | None
    spend: float
    max_budget: float | None
    expires: dt.datetime | None
    models: tuple[str, ...]
    metadata: Mapping[str, Any]
    blocked: bool
    created_at: dt.datetime | None
    budget_duration: str | None
    budget_reset_at: dt.datetime | None
    rpm_limit: int | None
    tpm_limit: int | None
    status: str | None
    deleted: bool
    last_active: dt.datetime | None
    # Every field of ``info`` as LiteLLM sent it (read-only, nested values copied), for a
    # rotation that must carry what the portal does not read itself.
    settings: Mapping[str, Any] = field(default_factory=frozen_map, repr=False, compare=False)


def parse_key_info(body: Any) -> KeyInfo:
    """Parse ``{"key": <echo>, "info": {...}}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("info"), Mapping):
        raise ShapeError("expected an object with an 'info' object")
    info = body["info"]
    status = opt_str(info.get("status"))
    return KeyInfo(
        status=status,
        deleted=status == "deleted" or info.get("deleted_at") is not None,
        last_active=parse_datetime(info.get("last_active")),
        settings=frozen_map(copy.deepcopy(dict(info))),
        **_key_fields(info),
    )


def parse_model_names(body: Any) -> tuple[str, ...]:
    """The model names of an OpenAI-style ``/models`` answer (``{"data": [{"id": …}, …]}``),
    de-duplicated, in LiteLLM's order."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        raise ShapeError("expected an object with a 'data' list")
    names = (item.get("id") for item in body["data"] if isinstance(item, Mapping))
    return tuple(dict.fromkeys(name for name in names if isinstance(name, str) and name))


@dataclass(frozen=True)
class GeneratedKey:
    """Result of ``/key/generate``. ``secret`` is the raw ``sk-`` key: show it once, never
    store or log it (it is excluded from ``repr``). ``token_id`` is its sha256 hash."""

    secret: str = field(repr=False)
    token_id: str
    key_name: str | None
    key_alias: str | None
    user_id: str | None
    expires: dt.datetime | None
    max_budget: float | None


def parse_generated_key(body: Any) -> GeneratedKey:
    """Parse ``GenerateKeyResponse`` and establish the token id (docs/litellm.md, "Key ids").

    ``token_id`` wins; on 1.65 ``token`` held the raw key, so ``token`` is accepted only when it
    is a 64-hex hash; otherwise the id is computed as sha256(secret). A ``token_id`` that is not
    sha256(secret) is an error, because the portal would store a wrong id.
    """
    if not isinstance(body, Mapping):
        raise ShapeError("expected an object")
    secret = body.get("key")
    if not isinstance(secret, str) or not secret:
        raise ShapeError("response has no 'key' (the raw secret)")
    expected = hash_secret(secret)
    token_id = body.get("token_id")
    if token_id is not None:
        if token_id != expected:
            raise ShapeError("token_id does not match sha256 of the returned key")
    else:
        token = body.get("token")
        if is_token_hash(token) and token != expected:
            raise ShapeError("token does not match sha256 of the returned key")
        token_id = expected
    return GeneratedKey(
        secret=secret,
        token_id=token_id,
        key_name=opt_str(body.get("key_name")),
        key_alias=opt_str(body.get("key_alias")),
        user_id=opt_str(body.get("user_id")),
        expires=parse_datetime(body.get("expires")),
        max_budget=opt_float(body.get("max_budget")),
    )
