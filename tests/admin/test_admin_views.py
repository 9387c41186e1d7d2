"""Admin views: usage of all users / one user / one key, users table, key revoke, audit trail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, AuditEvent

HX = {"HX-Request": "true"}
TODAY = dt.datetime.now(dt.UTC).date()
AGGREGATED = "/user/daily/activity/aggregated"


def _usage(sim, token: str, spend: float, *, model="gpt-4o", provider="openai", days_ago=0):
    sim.add_usage(
        token=token,
        date=TODAY - dt.timedelta(days=days_ago),
        model=model,
        provider=provider,
        prompt_tokens=100,
        completion_tokens=50,
        spend=spend,
    )


@pytest.fixture
def people(make_user, make_key, sim):
    """Alice (2 keys), Bob (1 key), an admin; usage rows, plus one for a key the portal lacks."""
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    admin = make_user("admin@example.com", is_admin=True)
    a1, a2 = make_key(alice, "laptop"), make_key(alice, "ci")
    b1 = make_key(bob, "server")
    _usage(sim, a1.token, 1.25)
    _usage(sim, a2.token, 0.5, model="claude-sonnet", provider="anthropic", days_ago=2)
    _usage(sim, b1.token, 2.0)
    stranger = sim.add_key(key_alias="not-the-portal", user_id="mallory@example.com")
    _usage(sim, stranger["token"], 100.0)
    return {"alice": alice, "bob": bob, "admin": admin, "a1": a1, "a2": a2, "b1": b1}


def _users_table(html: str) -> dict[str, str]:
    """email → spend cell text of the admin users table."""
    table = html[html.index('id="admin-users"') :]
    table = table[: table.index("</table>")].replace("<wbr>", "")  # addresses' break points
    rows = re.findall(
        r'<th scope="row">([^<]+?)(?: <span[^>]*>admin</span>)?</th>\s*'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td>\s*'
        r'<td class="num">([^<]+)</td>',
        table,
    )
    return {email.strip(): (int(keys), spend) for email, keys, _active, spend in rows}


def _spend_card(html: str) -> str:
    return re.search(r'<div class="label">Spend</div><div class="value">([^<]+)<', html).group(1)


def test_all_users_one_call_counts_only_portal_tokens(client, sign_in, people, sim):
    sign_in("admin@example.com")
    sim.reset_calls()
    response = client.get("/admin/usage?preset=7d")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _users_table(html) == {
        "bob@example.com": (1, "$2.00"),
        "alice@example.com": (2, "$1.75"),
        "admin@example.com": (0, "$0.00"),
    }
    assert _spend_card(html) == "$3.75"  # mallory's $100 on an unknown key is not counted
    calls = [q for m, p, q in sim.calls if p == AGGREGATED]
    assert len(calls) == 1 and "user_id" not in calls[0]
    assert "claude-sonnet" in html and "anthropic" in html


def test_user_filter_matches_the_users_own_usage_page(client, sign_in, people, app):
    sign_in("alice@example.com")
    own = client.get("/usage?preset=30d").get_data(as_text=True)
    sign_in("admin@example.com")
    admin = client.get(f"/admin/usage?preset=30d&user={people['alice'].id}")
    html = admin.get_data(as_text=True)
    assert _spend_card(html) == _spend_card(own) == "$1.75"
    assert 'id="usage-keys"' in html and "laptop" in html and "ci" in html
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "admin.usage.view")
        )
        assert (
            event.target_user_id == people["alice"].id and event.actor.email == "admin@example.com"
        )


def test_key_filter_and_key_of_another_user_is_404(client, sign_in, people):
    sign_in("admin@example.com")
    alice, a2, b1 = people["alice"], people["a2"], people["b1"]
    one = client.get(f"/admin/usage?preset=30d&user={alice.id}&key={a2.id}", headers=HX)
    assert one.status_code == 200 and _spend_card(one.get_data(as_text=True)) == "$0.50"
    assert one.get_data(as_text=True).lstrip().startswith('<section id="admin-usage-results"')
    alone = client.get(f"/admin/usage?preset=30d&key={b1.id}")
    assert _spend_card(alone.get_data(as_text=True)) == "$2.00"
    mismatch = client.get(f"/admin/usage?user={alice.id}&key={b1.id}")
    missing = client.get(f"/admin/usage?user={alice.id}&key=99999")
    assert mismatch.status_code == missing.status_code == 404
    assert client.get("/admin/usage?user=99999").status_code == 404
    assert client.get("/admin/usage?user=abc").status_code == 404
    bad = client.get("/admin/usage?preset=custom&start_date=2020-13-01&end_date=x")
    assert bad.status_code == 400 and 'id="admin-usage-invalid"' in bad.get_data(as_text=True)


def test_litellm_failure_shows_a_panel(client, sign_in, people, sim):
    sign_in("admin@example.com")
    sim.set_fault(AGGREGATED, 500)
    sim.set_fault("/user/daily/activity", 500)
    page = client.get("/admin/usage?preset=today")
    assert page.status_code == 200 and 'id="usage-api-error"' in page.get_data(as_text=True)
    fragment = client.get("/admin/usage?preset=7d", headers=HX)
    assert fragment.status_code == 502


def test_admin_revokes_a_users_key_with_confirmation(client, sign_in, people, sim, app, csrf_token):
    sign_in("admin@example.com")
    alice, a1 = people["alice"], people["a1"]
    listing = client.get(f"/admin/users/{alice.id}/keys").get_data(as_text=True)
    assert "laptop" in listing and f"/admin/users/{alice.id}/keys/{a1.id}/revoke" in listing
    confirm = client.get(f"/admin/users/{alice.id}/keys/{a1.id}/revoke", headers=HX)
    body = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'method="post"' in body and "alice@example.com" in body
    assert a1.token in sim.keys  # the confirmation step changes nothing
    done = client.post(
        f"/admin/users/{alice.id}/keys/{a1.id}/revoke", data={"csrf_token": csrf_token()}
    )
    assert done.status_code == 303 and done.headers["Location"].endswith(
        f"/admin/users/{alice.id}/keys"
    )
    assert a1.token not in sim.keys
    with app.app_context():
        assert db.session.get(ApiKey, a1.id).revoked_at is not None
        actions = {
            e.action: e
            for e in db.session.scalars(
                sa.select(AuditEvent).where(AuditEvent.target_key_id == a1.id)
            )
        }
        assert {"key.revoke", "admin.key.revoke"} <= set(actions)
        assert actions["admin.key.revoke"].actor.email == "admin@example.com"
        assert actions["admin.key.revoke"].target_user_id == alice.id
    after = client.get(f"/admin/users/{alice.id}/keys").get_data(as_text=True)
    assert "revoked" in after and "of alice@example.com revoked" in after


def test_admin_cannot_reach_a_key_through_the_wrong_user(client, sign_in, people, csrf_token, sim):
    sign_in("admin@example.com")
    bob, a1 = people["bob"], people["a1"]
    assert client.get(f"/admin/users/{bob.id}/keys/{a1.id}/revoke").status_code == 404
    wrong = client.post(
        f"/admin/users/{bob.id}/keys/{a1.id}/revoke", data={"csrf_token": csrf_token()}
    )
    assert wrong.status_code == 404 and a1.token in sim.keys
    assert client.get("/admin/users/99999/keys").status_code == 404


def test_owner_create_and_revoke_are_audited_and_listed(client, sign_in, people, app, csrf_token):
    sign_in("alice@example.com")
    page = client.get("/keys").get_data(as_text=True)
    token = re.search(r'name="idempotency_token" value="([^"]+)"', page).group(1)
    created = client.post(
        "/keys", data={"csrf_token": csrf_token(), "idempotency_token": token, "name": "fresh"}
    )
    assert created.status_code == 201
    with app.app_context():
        key = db.session.scalar(sa.select(ApiKey).where(ApiKey.label == "fresh"))
        key_id = key.id
    client.post(f"/keys/{key_id}/revoke", data={"csrf_token": csrf_token()})
    sign_in("admin@example.com")
    html = client.get("/admin/audit?action=key.create").get_data(as_text=True)
    assert html.count('class="audit-row"') == 1 and "fresh" in html
    html = client.get("/admin/audit?user=alice@example.com").get_data(as_text=True)
    actions = re.findall(r'<td data-label="What"><code>([a-z.]+)</code></td>', html)
    assert actions[:2] == ["key.revoke", "key.create"]  # newest first
    assert "No events match" in client.get("/admin/audit?user=nobody@example.com").get_data(
        as_text=True
    )


def test_audit_is_paginated(client, sign_in, people, app):
    from app import audit
    from app.models import User

    with app.app_context():
        admin = db.session.get(User, people["admin"].id)
        for n in range(60):
            audit.record("test.event", actor=admin, detail={"n": n}, commit=False)
        db.session.commit()
    sign_in("admin@example.com")
    first = client.get("/admin/audit?action=test.event").get_data(as_text=True)
    assert first.count('class="audit-row"') == 50 and "page 1 of 2" in first
    assert "<dt>n</dt><dd>59</dd>" in first  # details as fields, not raw JSON
    second = client.get("/admin/audit?action=test.event&page=2", headers=HX)
    body = second.get_data(as_text=True)
    assert (
        body.lstrip().startswith('<section id="admin-audit"')
        and body.count('class="audit-row"') == 10
    )
    assert client.get("/admin/audit?page=zzz").status_code == 200


def test_admin_nav_link_only_for_admins(client, sign_in, people):
    sign_in("alice@example.com")
    assert 'href="/admin/usage"' not in client.get("/keys").get_data(as_text=True)
    sign_in("admin@example.com")
    assert 'href="/admin/usage"' in client.get("/keys").get_data(as_text=True)


# --- the admin view draws the user's report through the same fragments ----------------------


def _table(html: str, table_id: str) -> str:
    """The table's markup without its links' targets (those differ between /usage and /admin)."""
    table = html[html.index(f'id="{table_id}"') :]
    return re.sub(
        r' (href|hx-get|hx-target|hx-indicator)="[^"]*"', "", table[: table.index("</table>")]
    )


def _cards(html: str) -> list[str]:
    cards = html[html.index('id="usage-summary"') : html.index('id="usage-chart"')]
    return re.findall(r'<div class="(?:value|muted small)">([^<]+)</div>', cards)


def _metric_links(html: str) -> dict[str, dict[str, str]]:
    """Chart metric label → the href's path and query (checked equal to its hx-get)."""
    nav = re.search(r'<nav class="segmented" aria-label="Chart metric">(.*?)</nav>', html, re.S)
    links = {}
    for href, hx_get, target, label in re.findall(
        r'<a href="([^"]+)"\s+hx-get="([^"]+)"\s+hx-target="([^"]+)".*?>([A-Za-z]+)</a>',
        nav.group(1),
        re.S,
    ):
        assert href == hx_get and target == "#admin-usage-region", (href, target)
        path, _, query = href.replace("&amp;", "&").partition("?")
        links[label] = {"path": path, **dict(p.split("=", 1) for p in query.split("&"))}
    assert set(links) == {"Spend", "Tokens", "Requests"}, nav.group(1)
    return links


@pytest.mark.parametrize("hx", [False, True], ids=["page", "fragment"])
def test_admin_report_equals_the_users_own_page(client, sign_in, people, hx):
    alice, a2 = people["alice"], people["a2"]
    sign_in("alice@example.com")
    own_all = client.get("/usage?preset=30d&metric=tokens").get_data(as_text=True)
    own_key = client.get(f"/usage?preset=30d&metric=tokens&key={a2.id}").get_data(as_text=True)
    sign_in("admin@example.com")
    headers = HX if hx else {}
    for query, own in ((f"user={alice.id}", own_all), (f"user={alice.id}&key={a2.id}", own_key)):
        response = client.get(f"/admin/usage?preset=30d&metric=tokens&{query}", headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert ("<html" in html) is not hx
        assert _cards(html) == _cards(own) and "$1.75" in _cards(own_all)
        for table in ("usage-daily", "usage-models", "usage-providers"):
            assert _table(html, table) == _table(own, table), (query, table)
        assert 'class="chart-svg chart-wide" viewBox="0 0 720 280"' in html
        current = re.search(r'metric=tokens[^"]*"[^>]*aria-current="true">Tokens</a>', html, re.S)
        assert current is not None, query
    user_page = client.get(f"/admin/usage?preset=30d&metric=tokens&user={alice.id}").get_data(
        as_text=True
    )
    assert _table(user_page, "usage-keys") == _table(own_all, "usage-keys")
    assert (
        f'<a href="/admin/usage?key={a2.id}&amp;preset=30d&amp;metric=tokens&amp;user={alice.id}">'
        in user_page
    )
    assert re.search(r'(href|hx-get|hx-push-url)="/usage\?', user_page) is None


def test_admin_chart_metric_links_keep_the_filters(client, sign_in, people):
    alice, a1 = people["alice"], people["a1"]
    sign_in("admin@example.com")
    cases = {
        "": {"user": "all", "key": "all"},
        f"&user={alice.id}": {"user": str(alice.id), "key": "all"},
        f"&key={a1.id}": {"user": str(alice.id), "key": str(a1.id)},  # the key's owner
    }
    for extra, kept in cases.items():
        html = client.get(f"/admin/usage?preset=custom&start_date={TODAY - dt.timedelta(days=3)}"
                          f"&end_date={TODAY}{extra}").get_data(as_text=True)  # fmt: skip
        assert (
            'class="chart-svg chart-wide" viewBox="0 0 720 280"' in html
            and 'id="usage-daily"' in html
        )
        links = _metric_links(html)
        for label, metric in (("Spend", "spend"), ("Tokens", "tokens"), ("Requests", "requests")):
            assert links[label] == {
                "path": "/admin/usage",
                "preset": "custom",
                "start_date": (TODAY - dt.timedelta(days=3)).isoformat(),
                "end_date": TODAY.isoformat(),
                "metric": metric,
                **kept,
            }, (extra, label)
        # The admin-only users table only for all users; per-key table only for one user.
        assert ('id="admin-users"' in html) is (extra == "")
        assert ('id="usage-keys"' in html) is (extra == f"&user={alice.id}")
    tokens = client.get(f"/admin/usage?preset=7d&metric=tokens&user={alice.id}", headers=HX)
    body = tokens.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="admin-usage-results"')
    assert "Tokens per day" in body
    assert 'name="metric" form="admin-usage-filters" value="tokens"' in body


def test_every_admin_response_is_private_and_not_stored(
    app, client, sign_in, people, csrf_token, sim
):
    sign_in("admin@example.com")
    alice, a1 = people["alice"], people["a1"]
    paths = [
        "/admin/usage",
        f"/admin/usage?user={alice.id}",
        f"/admin/usage?key={a1.id}",
        "/admin/usage?preset=custom&start_date=bad",  # 400
        "/admin/usage?user=99999",  # 404 raised inside the blueprint
        f"/admin/users/{alice.id}/keys",
        f"/admin/users/{alice.id}/keys/{a1.id}/revoke",
        "/admin/audit?page=2",
    ]
    gets = [r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/admin/")]
    assert {"admin.usage", "admin.user_keys", "admin.revoke_confirm", "admin.audit_log"} <= set(
        gets
    )
    for path in paths:
        for headers in ({}, HX):
            response = client.get(path, headers=headers)
            assert response.status_code in (200, 400, 404), path
            assert response.headers["Cache-Control"] == "private, no-store", (path, headers)
    sim.set_fault(AGGREGATED, 500)
    # A range none of the views above fetched, so no held day can stand in for LiteLLM.
    failed = client.get("/admin/usage?start_date=2025-01-01&end_date=2025-01-02", headers=HX)
    assert failed.status_code == 502 and failed.headers["Cache-Control"] == "private, no-store"
    done = client.post(
        f"/admin/users/{alice.id}/keys/{a1.id}/revoke", data={"csrf_token": csrf_token()}
    )
    assert done.status_code == 303 and done.headers["Cache-Control"] == "private, no-store"
    # The user's own pages are not the admin blueprint's business.
    assert "no-store" not in client.get("/keys").headers.get("Cache-Control", "")
