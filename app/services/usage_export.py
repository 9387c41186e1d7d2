"""CSV and JSON renderings of a :class:`~app.services.usage.UsageReport`.

Both carry exactly the numbers of the page (same report object); dates are UTC days. Spend is
rounded to the precision LiteLLM stores (no float noise from summing), token counts are whole.
"""

from __future__ import annotations

import io
import re
from typing import Any

from app.csv_cells import SafeWriter
from app.services.litellm import METRIC_NAMES, Metrics
from app.services.money import stored_spend
from app.services.usage import UsageReport


def _metrics(m: Metrics) -> dict[str, Any]:
    return {name: _exported(m, name) for name in METRIC_NAMES}


def _exported(m: Metrics, name: str) -> float | int:
    value = getattr(m, name)
    return stored_spend(value) if name == "spend" else value


def report_json(report: UsageReport) -> dict[str, Any]:
    """The documented export shape: key, dates, timezone, as_of, stale, totals, daily, models,
    providers and, for "all", keys. ``stale`` true means LiteLLM could not be reached and this
    is the last data it sent, at ``as_of``."""
    body: dict[str, Any] = {
        "key": "all" if report.key is None else {"id": report.key.id, "name": report.key.label},
        "start_date": report.start.isoformat(),
        "end_date": report.end.isoformat(),
        "timezone": "UTC",
        "as_of": report.as_of.isoformat(),
        "stale": report.stale,
        "totals": _metrics(report.totals),
        "daily": [{"date": d.date.isoformat(), **_metrics(d.metrics)} for d in report.daily],
        "models": [{"model": r.name, **_metrics(r.metrics)} for r in report.models],
        "providers": [{"provider": r.name, **_metrics(r.metrics)} for r in report.providers],
    }
    if report.key is None:
        body["keys"] = [
            {"id": k.id, "name": k.label, "revoked": k.revoked, **_metrics(k.metrics)}
            for k in report.keys
        ]
    return body


def report_csv(report: UsageReport) -> str:
    """One row per UTC day of the range: ``date`` then every metric."""
    out = io.StringIO()
    writer = SafeWriter(out, lineterminator="\r\n")
    writer.writerow(("date", *METRIC_NAMES))
    for day in report.daily:
        writer.writerow((day.date.isoformat(), *(_exported(day.metrics, n) for n in METRIC_NAMES)))
    return out.getvalue()


def freshness_headers(report: UsageReport) -> dict[str, str]:
    """``X-Data-Stale`` / ``X-Data-As-Of`` for both formats: a CSV has no place for them in its
    rows, and a script fetching either file can check them without parsing it."""
    return {
        "X-Data-Stale": "true" if report.stale else "false",
        "X-Data-As-Of": report.as_of.isoformat(),
    }


def export_filename(report: UsageReport, extension: str) -> str:
    """``usage-<label>-<start>-to-<end>.<ext>``, reduced to safe filename characters."""
    label = "all-keys" if report.key is None else report.key.label
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-._") or "key"
    return f"usage-{safe[:60]}-{report.start.isoformat()}-to-{report.end.isoformat()}.{extension}"
