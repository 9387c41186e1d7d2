"""The settings of one :class:`~.client.LiteLLMClient`, typed and frozen.

``app.config`` reads and checks the environment once and builds these (``litellm_settings``);
the client only uses them. The defaults are the ones a test or a script wants when it builds a
client by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LiteLLMSettings"]


@dataclass(frozen=True)
class LiteLLMSettings:
    """Where LiteLLM is, how long to wait for it and how long to keep its answers.

    Timeouts are seconds. GETs (page views, exports) wait ``read_timeout`` and are never re-sent
    after a read timeout unless ``retry_read_timeouts`` (maintenance commands); POSTs (key
    create/revoke, never retried) wait ``write_timeout``, longer because a timed-out create
    leaves its outcome unknown. ``/readyz`` gets its own short ``health_*`` budget.

    Cache lifetimes: ``/key/list`` ``key_list_ttl``; usage per UTC day (:mod:`.day_cache`)
    ``usage_ttl`` once the day had settled (ended ``usage_settle_seconds`` before it was
    fetched), else ``usage_today_ttl`` (usage LiteLLM has not written yet). ``max_concurrency``
    calls go upstream at once per process; a call that finds no free slot within
    ``concurrency_wait`` fails as unavailable. One usage view makes at most
    ``usage_fetch_concurrency`` of them at once, at most ``usage_max_calls`` in all, and starts
    none after ``usage_deadline`` seconds: a range needing more is refused as too large.
    """

    base_url: str
    master_key: str = field(repr=False)
    connect_timeout: float = 3.05
    read_timeout: float = 5
    write_timeout: float = 15
    retry_read_timeouts: bool = False
    health_connect_timeout: float = 1
    health_timeout: float = 2
    retries: int = 2
    backoff_factor: float = 0.2
    max_concurrency: int = 3
    concurrency_wait: float = 0.5
    key_list_ttl: int = 300
    usage_ttl: int = 86400
    usage_today_ttl: int = 15
    max_pages: int = 50
    api_key_limit: int = 1000
    usage_settle_seconds: int = 600
    usage_fetch_concurrency: int = 4
    usage_max_calls: int = 250
    usage_deadline: float = 30
    parsed_memo_size: int = 256
    # After a GET timed out, GETs wait this long instead (one at a time keeps read_timeout);
    # None: always read_timeout (maintenance commands, clients built by hand).
    read_timeout_while_hanging: float | None = None

    def __post_init__(self) -> None:
        # The one normalisation: paths are appended to the URL as they are.
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def read_timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` for GETs."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def write_timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` for POSTs."""
        return (self.connect_timeout, self.write_timeout)

    @property
    def health_timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` for the readiness probe."""
        return (self.health_connect_timeout, self.health_timeout)
