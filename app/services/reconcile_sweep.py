"""The LiteLLM half of ``flask reconcile-keys``: which of LiteLLM's keys matter, in few calls.

Pages are chosen as ``flask backfill-tokens`` chooses them: one global ``/key/list`` sweep when
its page count (read from page 1, which is then reused) is not above the per-user estimate (at
least one page per portal user, ``ceil(n/100)`` for a user with n portal keys), else one sweep
per portal user. Keys a sweep did not show are looked for again before anything is marked
(a key deleted meanwhile shifts LiteLLM's offset pages): one ``key_alias`` lookup each when
they are few, else one more global sweep.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping

from app.services.backfill import KEY_LIST_PAGE_SIZE, LEFTOVER_LOOKUP_LIMIT
from app.services.litellm import KeyPage, KeyRecord, LiteLLMClient
from app.services.reconcile_results import ReconcileReport

__all__ = ["KeySweep"]


class KeySweep:
    """LiteLLM's keys that matter to one run, with as few ``/key/list`` pages as it can.

    ``owners`` are the portal users' LiteLLM user ids in scope, ``keys_per_owner`` how many
    portal keys each has (the per-user estimate), ``known`` the token ids the portal knows and
    ``aliases`` the portal's aliases: only records matching one of those are kept.
    """

    def __init__(
        self,
        client: LiteLLMClient,
        report: ReconcileReport,
        *,
        owners: Collection[str],
        keys_per_owner: Mapping[str, int],
        known: Collection[str],
        aliases: Collection[str],
    ) -> None:
        self.client = client
        self.report = report
        self.owners = set(owners)
        self.keys_per_owner = keys_per_owner
        self.known = known
        self.aliases = set(aliases)
        self.records: dict[str, KeyRecord] = {}
        # alias -> records (several when LiteLLM holds one alias twice, e.g. old versions)
        self.by_alias: dict[str, list[KeyRecord]] = defaultdict(list)
        self.global_pages: int | None = None

    def take(self, pages: Iterable[KeyPage]) -> None:
        """Keep the records of portal users, known tokens or portal aliases."""
        for page in pages:
            self.report.pages += 1
            for record in page.keys:
                if (
                    record.user_id in self.owners
                    or record.token in self.known
                    or record.key_alias in self.aliases
                ):
                    if record.token not in self.records:
                        self.records[record.token] = record
                        if record.key_alias is not None:
                            self.by_alias[record.key_alias].append(record)

    def run(self) -> None:
        """One global sweep or one sweep per portal user, whichever needs fewer pages."""
        owners = sorted(self.owners)
        per_owner = self.keys_per_owner
        estimate = sum(max(1, math.ceil(per_owner.get(o, 0) / KEY_LIST_PAGE_SIZE)) for o in owners)
        if len(owners) > 1:
            pages = self.client.iter_key_pages(None)
            first = next(pages)
            self.global_pages = max(first.total_pages, 1)
            if self.global_pages <= estimate:
                self.report.mode = "global"
                self.take(_chain(first, pages))
                return
            pages.close()
            self.take([first])
        self.report.mode = "per-user"
        for owner in owners:
            self.take(self.client.iter_key_pages(owner))

    def confirm(self, aliases: list[str]) -> None:
        """Look again for keys no sweep showed: an alias lookup each when they are few (and
        fewer than a global sweep's pages), else one more global sweep."""
        if not aliases:
            return
        few = len(aliases) <= LEFTOVER_LOOKUP_LIMIT
        if self.global_pages is not None:
            few = few and len(aliases) < self.global_pages
        if few:
            for alias in aliases:
                self.take(self.client.iter_key_pages(None, key_alias=alias))
        else:
            self.take(self.client.iter_key_pages(None))


def _chain(first: KeyPage, rest: Iterator[KeyPage]) -> Iterator[KeyPage]:
    yield first
    yield from rest
