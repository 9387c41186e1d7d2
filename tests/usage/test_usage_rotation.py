"""A rotated key's usage is the sum over all its tokens: on the user page, the exports and the
admin view, each token counted exactly once (simulator over HTTP; values from its raw rows)."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from usage_helpers import TODAY, assert_metrics_equal, day, expected

from app.extensions import db
from app.models import ApiKey
from app.services import litellm_client
from app.services.admin import usage_for_all_users
from app.services.money import format_money
from app.services.usage import ChartMarker, usage_for_key, usage_for_user
from tests.day_cache_support import expire_usage_days

HX = {"HX-Request": "true"}
AGG = "/user/daily/activity/aggregated"
SEEN_RE = re.compile(r'name="rotation_mark" value="([^"]*)"')
RANGE = f"preset=custom&start_date={day(9).isoformat()}&end_date={TODAY.isoformat()}"


def _spend_card(html: str) -> str:
    return re.search(r'<div class="label">Spend</div><div class="value">([^<]+)<', html).group(1)


@pytest.fixture
def alice(app, client, make_user, make_key, seed_usage, sign_in, csrf_token, sim):
    """Alice's "laptop", used on days 9..4, rotated today, then used on days 3..0 (the dates
    of rows are what LiteLLM files them under), and her "ci" key; Bob's key has usage too."""
    user = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    laptop, ci = make_key(user, "laptop"), make_key(user, "ci")
    seed_usage(make_key(bob, "server").token, days=range(0, 10), seed=9)
    seed_usage(laptop.token, days=range(4, 10))
    seed_usage(ci.token, days=range(0, 10), seed=3)
    sign_in(user.email)
    page = client.get(f"/keys/{laptop.id}/rotate").get_data(as_text=True)
    form = {"csrf_token": csrf_token(), "grace": "1h", "rotation_mark": SEEN_RE.search(page)[1]}
    assert client.post(f"/keys/{laptop.id}/rotate", data=form).status_code == 200
    with app.app_context():
        new_token = db.session.get(ApiKey, laptop.id).litellm_token_id
    seed_usage(new_token, days=range(0, 4), seed=2)
    with app.app_context():
        # The rows above stand for use after the rotation; the keys list the rotation showed
        # already held those days, which LiteLLM never rewrites once settled.
        expire_usage_days(litellm_client())
    user.laptop, user.ci = laptop, ci
    user.laptop_tokens = {laptop.token, new_token}
    return user


def test_the_key_page_counts_every_token_of_the_key_in_one_call(client, alice, sim):
    sim.reset_calls()
    html = client.get(f"/usage?key={alice.laptop.id}&{RANGE}").get_data(as_text=True)
    wanted = expected(sim, alice.laptop_tokens, day(9), TODAY)
    assert _spend_card(html) == format_money(wanted["spend"])
    only_new = expected(sim, alice.laptop_tokens - {alice.laptop.token}, day(9), TODAY)
    assert wanted["spend"] > only_new["spend"] > 0  # both halves of the history count
    calls = [q for m, p, q in sim.calls if p == AGG]
    assert len(calls) == 1 and calls[0]["user_id"] == "alice@example.com"


def test_exports_count_the_rotated_key_whole_and_every_token_once(client, alice, sim):
    one = client.get(f"/usage/export.json?key={alice.laptop.id}&{RANGE}").get_json()
    assert_metrics_equal(one["totals"], expected(sim, alice.laptop_tokens, day(9), TODAY))

    every = client.get(f"/usage/export.json?key=all&{RANGE}").get_json()
    mine = alice.laptop_tokens | {alice.ci.token}
    assert_metrics_equal(every["totals"], expected(sim, mine, day(9), TODAY))
    keys = {k["id"]: k for k in every["keys"]}
    assert_metrics_equal(keys[alice.laptop.id], expected(sim, alice.laptop_tokens, day(9), TODAY))
    assert_metrics_equal(keys[alice.ci.id], expected(sim, {alice.ci.token}, day(9), TODAY))

    exported = client.get(f"/usage/export.csv?key={alice.laptop.id}&{RANGE}")
    rows = csv.DictReader(io.StringIO(exported.get_data(as_text=True)))
    by_date = expected(sim, alice.laptop_tokens, day(9), TODAY, by="date")
    for row in rows:
        assert float(row["spend"]) == pytest.approx(by_date[row["date"]]["spend"], abs=1e-6)


def test_the_admin_view_counts_the_rotated_key_whole(app, client, alice, make_user, sign_in, sim):
    make_user("admin@example.com", is_admin=True)
    sign_in("admin@example.com")
    html = client.get(f"/admin/usage?{RANGE}").get_data(as_text=True)
    with app.app_context():
        tokens = set(db.session.scalars(sa.select(ApiKey.litellm_token_id)))
    everything = tokens | {alice.laptop.token}  # the current ones plus the retired one
    assert _spend_card(html) == format_money(expected(sim, everything, day(9), TODAY)["spend"])
    one = client.get(f"/admin/usage?{RANGE}&user={alice.id}&key={alice.laptop.id}")
    wanted = expected(sim, alice.laptop_tokens, day(9), TODAY)["spend"]
    assert _spend_card(one.get_data(as_text=True)) == format_money(wanted)


def test_reports_mark_the_day_of_the_rotation(app, alice):
    with app.app_context():
        key = db.session.get(ApiKey, alice.laptop.id)
        report = usage_for_key(key, day(9), TODAY)
        assert report.markers == (ChartMarker(TODAY, "Rotated: laptop"),)
        assert usage_for_user(key.user, day(9), TODAY).markers == report.markers
        assert usage_for_key(key, day(9), day(1)).markers == ()  # outside the range
        everyone = usage_for_all_users(day(9), TODAY).report
        assert everyone.markers == report.markers


def test_the_usage_chart_draws_the_rotation_day(client, alice):
    html = client.get(f"/usage?key={alice.laptop.id}&{RANGE}").get_data(as_text=True)
    chart = html.split('class="chart-svg', 1)[1]
    assert '<g class="marker">' in chart
    assert f"Rotated: laptop on {TODAY.isoformat()}" in html  # in the chart's summary


@pytest.mark.parametrize("scope", ["key", "all"])
def test_a_view_reads_the_lineage_once_for_its_tokens_and_markers(app, client, alice, scope):
    statements = []

    def seen(conn, cursor, statement, *args):
        if "FROM api_key_tokens" in statement and "delete_after" not in statement:
            statements.append(statement)  # (retiring due old secrets is a query of its own)

    key = alice.laptop.id if scope == "key" else "all"
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            html = client.get(f"/usage?key={key}&{RANGE}").get_data(as_text=True)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert "Rotated: laptop" in html  # the marker, from the same read as the tokens
    assert len(statements) == 1, statements
