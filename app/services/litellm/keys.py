"""Key management methods of :class:`~app.services.litellm.client.LiteLLMClient`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import LiteLLMBadResponse, LiteLLMNotFound
from .key_models import (
    GeneratedKey,
    KeyListBody,
    KeyListResult,
    KeyPage,
    KeyRecord,
    parse_generated_key,
    parse_key_list,
)
from .parsing import ShapeError

KEY_LIST_PAGE_SIZE = 100  # LiteLLM's maximum (422 above), CONTRACT §2


class KeysMixin:
    """``/key/list``, ``/key/generate``, ``/key/delete``. Needs the transport's
    ``_request``, ``_invalidate`` and ``max_pages``."""

    def iter_key_pages(
        self,
        user_id: str | None = None,
        key_alias: str | None = None,
        *,
        force_refresh: bool = False,
    ) -> Iterator[KeyPage]:
        """Yield each page of ``GET /key/list?return_full_object=true&size=100``.

        Without ``user_id`` this sweeps all keys (admin view), e.g. for ``flask backfill-tokens``.
        Items are post-filtered for exact ``user_id``/``key_alias`` equality (1.84–1.89 matched
        substrings, CONTRACT §2). Stops after ``total_pages`` or an empty page; more than
        ``max_pages`` pages raise ``LiteLLMBadResponse``. Not de-duplicated across pages.
        """
        page = 1
        while True:
            if page > self.max_pages:
                raise LiteLLMBadResponse(
                    f"/key/list did not end after {self.max_pages} pages "
                    f"(LITELLM_MAX_PAGES); refusing to follow it further",
                    route="/key/list",
                )
            params: dict[str, Any] = {
                "return_full_object": "true",
                "size": KEY_LIST_PAGE_SIZE,
                "page": page,
            }
            if user_id is not None:
                params["user_id"] = user_id
            if key_alias is not None:
                params["key_alias"] = key_alias
            result = self._request(
                "GET", "/key/list", params=params, force_refresh=force_refresh, parse=parse_key_list
            )
            body: KeyListBody = result.body
            total_pages = body.total_pages
            if total_pages > self.max_pages:
                raise LiteLLMBadResponse(
                    f"/key/list reports {total_pages} pages, more than LITELLM_MAX_PAGES="
                    f"{self.max_pages}",
                    route="/key/list",
                )
            kept = tuple(
                r
                for r in body.records
                if (user_id is None or r.user_id == user_id)
                and (key_alias is None or r.key_alias == key_alias)
            )
            yield KeyPage(
                keys=kept,
                page=page,
                total_pages=total_pages,
                total_count=body.total_count,
                from_cache=result.from_cache,
                stale=result.stale,
                fetched_at=result.fetched_at,
            )
            if not body.records:
                return
            if not body.has_totals:
                # Shape without totals: keep going while pages are full.
                if len(body.records) < KEY_LIST_PAGE_SIZE:
                    return
            elif page >= total_pages:
                return
            page += 1

    def list_keys(
        self,
        user_id: str | None,
        key_alias: str | None = None,
        *,
        force_refresh: bool = False,
    ) -> KeyListResult:
        """All keys of ``user_id`` (all keys when ``None``), optionally only ``key_alias``.

        Follows every page, de-duplicates by ``token`` and keeps only exact ``user_id`` /
        ``key_alias`` matches. Returns a :class:`KeyListResult` (iterable of ``KeyRecord``; also
        ``pages``, ``total_count``, ``fetched_at``, ``from_cache``, ``stale``).
        """
        seen: dict[str, KeyRecord] = {}
        pages = total_count = 0
        from_cache = True
        stale = False
        fetched_at: dt.datetime | None = None
        for page in self.iter_key_pages(user_id, key_alias, force_refresh=force_refresh):
            pages += 1
            if page.page == 1:
                total_count = page.total_count
            from_cache = from_cache and page.from_cache
            stale = stale or page.stale
            if page.fetched_at and (fetched_at is None or page.fetched_at < fetched_at):
                fetched_at = page.fetched_at
            for record in page.keys:
                seen.setdefault(record.token, record)
        return KeyListResult(
            keys=tuple(seen.values()),
            pages=pages,
            total_count=total_count,
            fetched_at=fetched_at,
            from_cache=from_cache,
            stale=stale,
        )

    def generate_key(
        self,
        *,
        key_alias: str,
        user_id: str,
        models: tuple[str, ...] | list[str] = (),
        max_budget: float | None = None,
        duration: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> GeneratedKey:
        """Create a key with ``POST /key/generate`` (never retried, never cached).

        Raises ``LiteLLMRejected`` for e.g. a duplicate alias (message is LiteLLM's) and
        ``LiteLLMBadResponse`` if the returned ``token_id`` is not sha256 of the secret.
        The returned ``GeneratedKey.secret`` must be shown once and never stored or logged.
        """
        payload: dict[str, Any] = {
            "key_alias": key_alias,
            "user_id": user_id,
            "models": list(models),
            "metadata": dict(metadata or {}),
        }
        if max_budget is not None:
            payload["max_budget"] = max_budget
        if duration is not None:
            payload["duration"] = duration
        result = self._request("POST", "/key/generate", json=payload)
        self._invalidate("/key/list")
        try:
            return parse_generated_key(result.body)
        except ShapeError as exc:
            raise LiteLLMBadResponse(str(exc), status=200, route="/key/generate") from None

    def delete_key(self, token: str | None = None, *, key_alias: str | None = None) -> bool:
        """Delete one key by token hash (or by alias) with ``POST /key/delete`` (not retried).

        Returns True when LiteLLM deleted it, False when LiteLLM answered 404 (already gone —
        callers treat that as revoked). Other failures raise.
        """
        if (token is None) == (key_alias is None):
            raise ValueError("pass exactly one of token or key_alias")
        payload = {"keys": [token]} if token is not None else {"key_aliases": [key_alias]}
        try:
            self._request("POST", "/key/delete", json=payload)
        except LiteLLMNotFound:
            deleted = False
        else:
            deleted = True
        self._invalidate("/key/list")
        return deleted
