"""The admin view for an organisation with more keys than LiteLLM lists per answer.

Against the simulator over real HTTP: the calls stay within windows x pages (never one per key),
every user's and key's figures are exact, the next view costs nothing; the users and keys
tables page, search and sort on the server with totals over every matching row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_lib
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, User
from app.services import litellm_client
from app.services.admin import usage_for_all_users
from app.services.admin_tables import PAGE_SIZE
from app.services.money import format_money

TODAY = dt.datetime.now(dt.UTC).date()
DAYS = 20
AGG = "/user/daily/activity/aggregated"
PAGED = "/user/daily/activity"
HX = {"HX-Request": "true"}


@pytest.fixture
def organisation(app, sim, make_user):
    """3 users with 40 keys each, every key used once a day for 20 days (2,400 rows)."""
    users = [make_user(f"team{n}@example.com") for n in range(3)]
    make_user("admin@example.com", is_admin=True)
    with app.app_context():
        for n, user in enumerate(users):
            for k in range(40):
                alias = f"team{n}--key{k:02d}"
                stored = sim.add_key(key_alias=alias, user_id=user.litellm_user_id)
                db.session.add(ApiKey(user_id=user.id, alias=alias, label=f"key{k:02d}",
                                      litellm_token_id=stored["token"]))  # fmt: skip
                for offset in range(DAYS):
                    sim.add_usage(token=stored["token"], date=TODAY - dt.timedelta(days=offset),
                                  model="gpt-4o", provider="openai", prompt_tokens=10 + k,
                                  completion_tokens=n + 1, spend=0.01 * (k + 1))  # fmt: skip
        db.session.commit()
    return users


def _limit(app, **settings) -> None:
    """LiteLLM lists at most 50 keys per answer here (its real maximum is 1,000)."""
    with app.app_context():
        client = litellm_client()
        client.http.settings = dataclasses.replace(client.settings, api_key_limit=50, **settings)


def _truth(sim, tokens: set[str]) -> float:
    return sum(r["spend"] for r in sim.rows if r["api_key"] in tokens)


@pytest.mark.parametrize(("max_pages", "windows"), [(50, 1), (1, 4)])
def test_all_users_cost_windows_times_pages_never_one_call_per_key(
    app, sim, organisation, max_pages, windows
):
    _limit(app, max_pages=max_pages)
    start = TODAY - dt.timedelta(days=DAYS - 1)
    sim.reset_calls()
    with app.app_context():
        report = usage_for_all_users(start, TODAY)
        tokens_of = {
            u.id: {k.litellm_token_id for k in u.keys} for u in db.session.scalars(sa.select(User))
        }

    calls = [(p, q) for _m, p, q in sim.calls]
    assert all("api_key" not in q for _p, q in calls)  # never one call per key
    # 120 token ids, more than api_key_limit: no aggregated answer that would be cut.
    assert AGG not in {p for p, _q in calls}
    pages = -(-len(sim.rows) // 1000)  # 3 pages of 1,000 rows
    # The cut aggregated answer, (page 1 of the whole range when it is split), the windows.
    bound = 1 + (1 if windows > 1 else 0) + windows * -(-pages // windows)
    assert len(calls) <= bound
    assert sum(1 for p, _q in calls if p == PAGED) >= pages
    for row in report.users:
        assert row.metrics.spend == pytest.approx(_truth(sim, tokens_of[row.id]))
    assert report.report.totals.spend == pytest.approx(
        _truth(sim, {r["api_key"] for r in sim.rows})
    )
    assert len(report.keys) == 120 and all(k.metrics.spend > 0 for k in report.keys)

    sim.reset_calls()
    with app.app_context():
        again = usage_for_all_users(TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1))
    assert sim.calls == [] and again.report.from_cache


def _rows(html: str, table: str) -> list[str]:
    body = html[html.index(f'id="{table}"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return [
        html_lib.unescape(m) for m in re.findall(r'<th scope="row">(?:<a [^>]+>)?([^<]+)', body)
    ]


def _footer_spend(html: str, table: str) -> str:
    body = html[html.index(f'id="{table}"') :]
    body = body[body.index("<tfoot>") : body.index("</tfoot>")]
    return re.search(r'<td class="num">(\$[^<]+)</td>', body).group(1)


def _link(html: str, text: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*>{re.escape(text)}', html)
    assert match, text
    return html_lib.unescape(match.group(1))


def test_tables_page_search_and_sort_on_the_server(app, client, sim, organisation, sign_in):
    app.config["ADMIN_EMAILS"] = ("admin@example.com",)
    _limit(app)
    sign_in("admin@example.com")
    start = TODAY - dt.timedelta(days=DAYS - 1)
    page = client.get(f"/admin/usage?preset=custom&start_date={start}&end_date={TODAY}")
    html = page.text
    assert page.status_code == 200

    keys = _rows(html, "admin-keys")
    assert len(keys) == PAGE_SIZE and "1–50 of 120 keys" in html and "Page 1 of 3" in html
    assert keys[:3] == ["key39", "key39", "key39"]  # highest spend first
    assert _footer_spend(html, "admin-keys") == _footer_spend(html, "admin-users")  # all rows

    second = client.get(_link(html, "Next"))  # a plain link: no JavaScript needed
    assert "51–100 of 120 keys" in second.text and "Page 2 of 3" in second.text
    assert _rows(second.text, "admin-keys") != keys

    by_owner = client.get(_link(second.text, "Owner"))  # sorting starts again on page 1
    assert "Page 1 of 3" in by_owner.text
    shown = by_owner.text.replace("<wbr>", "")  # the break points addresses carry
    owners = re.findall(r"</th>\s*<td>(team\d@example.com)</td>", shown)
    assert owners == sorted(owners) and owners[0] == "team0@example.com"

    found = client.get(_link(html, "Next") + "&kq=team1--key0", headers=HX)
    assert found.status_code == 200 and "<html" not in found.text
    assert "1–10 of 10 keys" in found.text and "matching “team1--key0” (120 in all)" in found.text
    assert set(_rows(found.text, "admin-keys")) == {f"key0{k}" for k in range(10)}
    team1 = {
        r["api_key"]
        for r in sim.rows
        if sim.keys[r["api_key"]]["key_alias"].startswith("team1--key0")
    }
    assert _footer_spend(found.text, "admin-keys") == format_money(_truth(sim, team1))
    # The users table keeps its own state beside the keys table's search.
    assert re.search(r"1–(\d) of \1 users</span>", found.text)
    assert 'name="kq" value="team1--key0"' in found.text


def test_warm_views_follow_changes_to_the_keys(app, sim, organisation, monkeypatch):
    """The tables are kept per process between views, yet show every change to the keys."""
    from app.models import utcnow
    from app.services import admin as admin_module

    _limit(app)
    start = TODAY - dt.timedelta(days=DAYS - 1)
    with app.app_context():
        first = usage_for_all_users(start, TODAY)
        assert usage_for_all_users(start, TODAY).keys is first.keys  # nothing changed
        revoked, expiring = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id).limit(2))
        revoked.revoked_at, revoked.label = utcnow(), "renamed"
        expiring.expires_at = utcnow() + dt.timedelta(hours=1)
        db.session.commit()
        revoked_id, revoked_owner, expiring_id = revoked.id, revoked.user_id, expiring.id
        second = usage_for_all_users(start, TODAY)
        later = utcnow() + dt.timedelta(hours=2)
        monkeypatch.setattr(admin_module, "utcnow", lambda: later)
        third = usage_for_all_users(start, TODAY)  # the same rows, an hour past the expiry

    rows = {k.id: k for k in second.keys}
    assert (rows[revoked_id].status, rows[revoked_id].label) == ("revoked", "renamed")
    assert rows[expiring_id].status == "active"
    assert {k.id: k for k in third.keys}[expiring_id].status == "expired"
    owner = next(u for u in second.users if u.id == revoked_owner)
    assert (
        owner.active_keys == 39
        and owner.metrics == next(u for u in first.users if u.id == owner.id).metrics
    )


def test_many_keys_read_the_lineage_whole_with_the_same_result(app, sim, organisation, monkeypatch):
    """Above a few hundred keys the lineage is read without a statement naming every key."""
    from app.models import ApiKeyToken
    from app.services import lineage

    _limit(app)
    start = TODAY - dt.timedelta(days=DAYS - 1)
    with app.app_context():
        key = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)).first()
        rotated_at = dt.datetime.combine(TODAY - dt.timedelta(days=3), dt.time(12), dt.UTC)
        db.session.add(ApiKeyToken(api_key_id=key.id, token_id="f" * 64, source="rotated",
                                   became_current_at=rotated_at))  # fmt: skip
        db.session.commit()
        named = usage_for_all_users(start, TODAY)
        monkeypatch.setattr(lineage, "_MANY_KEYS", 10)
        whole = usage_for_all_users(start, TODAY)
        assert lineage.key_by_token(db.session.scalars(sa.select(ApiKey)))["f" * 64] == key.id

    assert [(k.id, k.metrics) for k in whole.keys] == [(k.id, k.metrics) for k in named.keys]
    assert whole.report.markers == named.report.markers
    assert [m.day for m in whole.report.markers] == [rotated_at.date()]
