"""The summary cards' comparisons: this period against the one just before it, of the same
length (the previous totals also give the cards' previous average cost and success rate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

from app.services.litellm import Metrics
from app.services.usage import UsageReport
from app.services.usage import _ranked as ranked


@dataclass(frozen=True)
class Delta:
    """How a figure changed against the previous period."""

    current: float
    previous: float

    @property
    def percent(self) -> float | None:
        """Relative change in %, None when the previous period had none of it."""
        if not self.previous:
            return None
        return 100.0 * (self.current - self.previous) / self.previous

    @property
    def direction(self) -> str:
        """``up``, ``down`` or ``same`` (a CSS class and the arrow's meaning)."""
        if self.current > self.previous:
            return "up"
        return "down" if self.current < self.previous else "same"

    @property
    def text(self) -> str:
        """``+12.5 %``, ``−3.0 %``, ``no change``, or ``new`` when there was nothing before."""
        if self.direction == "same":
            return "no change"
        percent = self.percent
        if percent is None:
            return "new"
        sign = "+" if percent > 0 else "−"
        return f"{sign}{abs(percent):,.1f} %"


@dataclass(frozen=True)
class Comparison:
    """Deltas of the cards' figures; ``days`` is the length of both periods."""

    days: int
    spend: Delta
    tokens: Delta
    requests: Delta
    previous: Metrics


def compare(current: Metrics, previous: Metrics, days: int) -> Comparison:
    """Compare the totals of two periods of ``days`` days."""
    return Comparison(
        days=days,
        spend=Delta(round(current.spend, 10), round(previous.spend, 10)),
        tokens=Delta(current.total_tokens, previous.total_tokens),
        requests=Delta(current.api_requests, previous.api_requests),
        previous=previous,
    )


def split_previous(report: UsageReport, start: dt.date) -> tuple[UsageReport, Metrics]:
    """A report over the previous period and the current one together, split at ``start``:
    the current period's report (models, providers and keys summed over its days only) and
    the previous period's totals. One LiteLLM call then serves both periods."""

    def current(daily: Mapping[dt.date, Metrics]) -> Metrics:
        return Metrics.sum(m for day, m in daily.items() if day >= start)

    def restrict(per_name: Mapping[str, Mapping[dt.date, Metrics]]):
        kept = {
            name: {d: m for d, m in days.items() if d >= start} for name, days in per_name.items()
        }
        return {name: days for name, days in kept.items() if days}

    models = restrict(report.model_daily)
    providers = restrict(report.provider_daily)
    daily = tuple(row for row in report.daily if row.date >= start)
    keys = tuple(
        replace(row, metrics=current(report.key_daily.get(row.id, {}))) for row in report.keys
    )
    shown = replace(
        report,
        start=start,
        daily=daily,
        totals=Metrics.sum(row.metrics for row in daily),
        models=ranked({name: Metrics.sum(days.values()) for name, days in models.items()}),
        providers=ranked({name: Metrics.sum(days.values()) for name, days in providers.items()}),
        keys=keys,
        key_daily={
            k: {d: m for d, m in days.items() if d >= start} for k, days in report.key_daily.items()
        },
        model_daily=models,
        provider_daily=providers,
        markers=tuple(m for m in report.markers if m.day >= start),
    )
    previous = Metrics.sum(row.metrics for row in report.daily if row.date < start)
    return shown, previous
