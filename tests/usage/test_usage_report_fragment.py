"""The report fragment (cards, chart, tables) rendered once per data and view, over real HTTP
to the simulator: a repeated view is served from the worker's memo and equals a fresh render,
and whatever the fragment shows (the usage, a key's label or status, the view's parameters,
the page it links to) names the memo entry, so no change is ever hidden behind it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from jinja2 import meta, nodes
from usage_helpers import TODAY, day

from app.extensions import db
from app.models import ApiKey, User
from app.services.litellm import Metrics
from app.services.usage import ChartMarker, KeyUsageRow, UsageReport
from app.services.usage_query import UsageQuery
from app.usage.report_fragment import (
    FROM_BASIS,
    MEMO,
    NOT_SHOWN,
    REPORT_TEMPLATE,
    VIEW_NAMES,
    memo_name,
)

# Per request or per session, so the fragment may not read them: its memo outlives a request.
_REQUEST_GLOBALS = {"g", "request", "session", "config", "csrf_token", "csrf_meta_tag"}


@pytest.fixture
def alice(make_user, make_key, sim, sign_in):
    user = make_user("alice@example.com")
    laptop = make_key(user, "laptop")
    ci = make_key(user, "ci")
    for offset in range(0, 9):
        sim.add_usage(token=laptop.token, date=day(offset), model="gpt-4o", provider="openai",
                      prompt_tokens=1000 + offset, completion_tokens=200, spend=0.5,
                      successful_requests=3)  # fmt: skip
        sim.add_usage(token=ci.token, date=day(offset), model="claude-sonnet",
                      provider="anthropic", prompt_tokens=400, completion_tokens=100,
                      spend=0.25, successful_requests=2)  # fmt: skip
    user.laptop, user.ci = laptop, ci
    return user


def _memo(app):
    return app.extensions[MEMO]


def _fragment(html: str) -> str:
    """The report fragment of a page: from the summary cards to the end of the results."""
    start = html.index('<div class="cards" id="usage-summary">')
    return html[start : html.index("</section>", start)]


def _view(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[-1500:])
    return response.get_data(as_text=True)


def test_the_fragment_reads_nothing_its_memo_name_leaves_out(app):
    env = app.jinja_env
    read, report_fields = set(), set()
    for name in (REPORT_TEMPLATE, "usage/_chart.html", "usage/_macros.html"):
        tree = env.parse(env.loader.get_source(env, name)[0])
        assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "store"}
        read |= meta.find_undeclared_variables(tree) - assigned
        report_fields |= {
            n.attr for n in tree.find_all(nodes.Getattr)
            if isinstance(n.node, nodes.Name) and n.node.name == "report"
        }  # fmt: skip
    allowed = {"report", "chart", *VIEW_NAMES} | (set(env.globals) - _REQUEST_GLOBALS)
    assert read <= allowed, f"named nowhere in the memo: {sorted(read - allowed)}"
    assert read & _REQUEST_GLOBALS == set()
    assert report_fields and not report_fields & NOT_SHOWN


@pytest.mark.parametrize(
    "query",
    [
        "preset=7d",
        "preset=30d&sort=-total_tokens&metric=tokens",
        "preset=7d&view=models",
        "preset=7d&view=keys",
        "key={laptop}&preset=7d",
        "key={laptop}&preset=30d&metric=requests&sort=name",
    ],
)
def test_a_repeated_view_comes_from_the_memo_and_equals_a_fresh_render(
    app, client, alice, sign_in, query
):
    sign_in(alice.email)
    url = "/usage?" + query.format(laptop=alice.laptop.id)
    first = _fragment(_view(client, url))
    hits = _memo(app).hits
    again = _fragment(_view(client, url))
    assert _memo(app).hits == hits + 1
    _memo(app).clear()
    fresh = _fragment(_view(client, url))
    assert again == first == fresh
    assert "$" in fresh and 'id="usage-chart"' in fresh


def test_other_parameters_render_their_own_fragment(app, client, alice, sign_in):
    sign_in(alice.email)
    by_spend = _fragment(_view(client, "/usage?preset=7d&metric=spend"))
    by_tokens = _fragment(_view(client, "/usage?preset=7d&metric=tokens"))
    sorted_by_name = _fragment(_view(client, "/usage?preset=7d&sort=name"))
    assert by_spend != by_tokens != sorted_by_name
    assert 'aria-current="true">Spend<' in by_spend.replace("\n", "")
    assert 'aria-current="true">Tokens<' in " ".join(by_tokens.split())


def test_a_renamed_or_revoked_key_shows_at_once(app, client, alice, sign_in):
    sign_in(alice.email)
    before = _fragment(_view(client, "/usage?preset=7d"))
    assert ">ci</a>" in before and "revoked" not in before
    with app.app_context():
        key = db.session.get(ApiKey, alice.ci.id)
        key.label = "build-server"
        db.session.commit()
    renamed = _fragment(_view(client, "/usage?preset=7d"))
    assert ">build-server</a>" in renamed and ">ci</a>" not in renamed
    with app.app_context():
        from app.models import utcnow

        db.session.get(ApiKey, alice.ci.id).revoked_at = utcnow()
        db.session.commit()
    revoked = _fragment(_view(client, "/usage?preset=7d"))
    assert '<span class="badge revoked">revoked</span>' in revoked


def test_new_usage_shows_after_refresh_now(app, client, alice, sim, sign_in):
    sign_in(alice.email)
    url = f"/usage?key={alice.laptop.id}&preset=7d"
    before = _fragment(_view(client, url))
    assert "$3.50" in before  # 7 days x $0.50
    sim.add_usage(token=alice.laptop.token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=2.0)  # fmt: skip
    refreshed = _fragment(_view(client, url + "&refresh=1"))
    assert "$5.50" in refreshed and "$3.50" not in refreshed
    assert "$5.50" in _fragment(_view(client, url))  # and the next plain view shows it too


def _report(**changes) -> UsageReport:
    report = UsageReport(
        start=day(6), end=TODAY, key=None, totals=Metrics(), daily=(), models=(),
        providers=(), keys=(), as_of=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        basis=("held days", "tokens"),
    )  # fmt: skip
    return dataclasses.replace(report, **changes)


_ROW = KeyUsageRow(id=1, label="ci", alias="a", revoked=False, token_known=True, metrics=Metrics())
_OTHER_VIEWS = {
    "comparison": {"spend": 1},
    "query": UsageQuery.parse({"preset": "30d"}),
    "metrics": {"spend": "Spend"},
    "results_endpoint": "admin.usage",
    "results_args": {"user": "7"},
    "results_prefix": "admin-",
    "all_users": object(),
    "target_user": User(id=7, email="bob@example.com"),
}
_OTHER_REPORTS = {
    "start": day(5), "end": day(1), "as_of": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    "stale": True, "recent": True, "matched_by_alias": True, "basis": ("other days",),
    "keys": (_ROW,), "markers": (ChartMarker(day(3), "Rotated: ci"),),
    "key": ApiKey(id=3, label="laptop", alias="a-laptop"),
}  # fmt: skip


def test_the_memo_name_holds_whatever_the_fragment_shows(app):
    shown = {f.name for f in dataclasses.fields(UsageReport)} - set(_OTHER_REPORTS)
    assert shown == FROM_BASIS | NOT_SHOWN, "a new report field needs a case here"
    base = {"report": _report(), "query": UsageQuery.parse({"preset": "7d"})}
    with app.test_request_context("/usage"):
        name = memo_name(base)
        assert name is not None and memo_name(dict(base)) == name
        for view, value in _OTHER_VIEWS.items():
            assert memo_name({**base, view: value}) != name, view
        for field_name, value in _OTHER_REPORTS.items():
            other = {**base, "report": _report(**{field_name: value})}
            assert memo_name(other) != name, field_name
        renamed = ApiKey(id=3, label="build-server", alias="a-laptop")
        assert memo_name({**base, "report": _report(key=renamed)}) != memo_name(
            {**base, "report": _report(key=_OTHER_REPORTS["key"])}
        )
        assert memo_name({**base, "report": _report(basis=None)}) is None
    with app.test_request_context("/usage", base_url="http://localhost/portal/"):
        assert memo_name(base) != name  # links under another root


@pytest.mark.parametrize("query", ["preset=7d", "user={alice}&preset=7d", "key={laptop}&preset=7d"])
def test_every_admin_view_is_memoised(app, client, alice, make_user, sign_in, query):
    admin = make_user("admin@example.com", is_admin=True)
    sign_in(admin.email)
    url = "/admin/usage?" + query.format(alice=alice.id, laptop=alice.laptop.id)
    first = _fragment(_view(client, url))
    hits = _memo(app).hits
    assert _fragment(_view(client, url)) == first
    assert _memo(app).hits == hits + 1
