"""The report fragment (usage/_report.html: cards, chart, tables), rendered once per data and
view and then reused by the worker.

A warm usage view shows the same report again: same sums, same parameters. Rendering the
fragment was most of such a view's CPU (the chart's two layouts and the tables, every value
escaped by Jinja). So the rendered HTML is kept per worker, named by everything the fragment
shows: the report's basis (held days with their fetch times and the tokens counted, from which
its sums follow), every other field of the report, and the view's parameters. A report without a
basis is rendered each time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping

from flask import current_app, request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app.services.chart import report_chart
from app.services.litellm.cache import MISSING, ParsedMemo
from app.services.usage import UsageReport

REPORT_TEMPLATE = "usage/_report.html"
# What the fragment reads from its page besides the report (its chart is built here). The
# tests check that the fragment's templates read nothing else.
VIEW_NAMES = (
    "comparison",
    "query",
    "metrics",
    "results_endpoint",
    "results_args",
    "results_prefix",
    "all_users",
    "target_user",
)
# Fields computed from the basis over the report's range (start and end are in the name).
FROM_BASIS = frozenset(
    {"totals", "daily", "models", "providers", "key_daily", "model_daily", "provider_daily"}
)
# Fields the fragment never shows (the tests check): how the data was fetched, not what it is.
NOT_SHOWN = frozenset({"from_cache", "calls"})
MEMO = "usage_report_memo"  # app.extensions[MEMO]: each app (and so each worker) its own


def new_memo() -> ParsedMemo:
    """The rendered fragments of one app as UTF-8 (half of what a str of this HTML takes),
    8 MiB at most: a fragment is about 35 KB, so the last 200-odd views."""
    return ParsedMemo(512, max_weight=8 * 1024 * 1024)


@pass_context
def usage_report(context: Context) -> Markup:
    """The report fragment for the page's ``report`` (a template global: ``{{ usage_report() }}``
    where the page shows its report)."""
    memo: ParsedMemo = current_app.extensions[MEMO]
    name = memo_name(context)
    if name is not None:
        found = memo.get(name)
        if found is not MISSING:
            return Markup(found.decode())
    report, query = context["report"], context["query"]
    chart = report_chart(report, query.metric, query.view, query.compare)
    template = context.environment.get_template(REPORT_TEMPLATE)
    html = template.render({**context.get_all(), "chart": chart})
    if name is not None:
        encoded = html.encode()
        memo.put(name, encoded, len(encoded))
    return Markup(html)


def memo_name(context: Mapping) -> Hashable | None:
    """What the fragment shows, as a memo key; None when the report has no basis (or holds a
    value the memo cannot name: it is then rendered each time)."""
    report: UsageReport | None = context.get("report")
    if report is None or report.basis is None:
        return None
    try:
        view = tuple(_plain(name, context.get(name)) for name in VIEW_NAMES)
        # Links are paths under the app's root, which a proxy may set per request.
        return report_name(report), view, request.script_root
    except _Unnamed:
        return None


def report_name(report: UsageReport) -> tuple:
    """The report's basis and every field that does not follow from it."""
    return tuple(
        _plain(f.name, getattr(report, f.name))
        for f in dataclasses.fields(report)
        if f.name not in FROM_BASIS and f.name not in NOT_SHOWN
    )


def _plain(name: str, value) -> Hashable:
    """``value`` as what the fragment shows of it, hashable and equal across requests (model
    objects compare by identity, so they are named by the columns shown)."""
    if value is None or isinstance(value, (str, int, float, bool, tuple, frozenset)):
        return value
    if name == "key":  # the report's ApiKey
        return (value.id, value.label, value.alias, value.is_revoked)
    if name == "target_user":
        return value.id, value.email
    if name == "query":
        return tuple(value.params().items())
    if name == "comparison":
        return True  # follows from the basis and the range, like the report's sums
    if name == "all_users":
        return True  # the admin's all-users report: the fragment only asks whether there is one
    if isinstance(value, Mapping):
        return tuple((k, _plain(k, v)) for k, v in value.items())
    if hasattr(value, "isoformat"):  # dates and times
        return value
    raise _Unnamed(name)


class _Unnamed(Exception):
    """A value of the fragment's context that has no plain name."""
