"""/usage/export.csv and /usage/export.json: same numbers as the page, exact shape, errors."""

from __future__ import annotations

import csv
import io
import re

import pytest
from usage_helpers import TODAY, assert_metrics_equal, day, expected

from app.services.litellm import METRIC_NAMES
from app.services.money import format_money

AGG = "/user/daily/activity/aggregated"


@pytest.fixture
def alice(make_user, make_key, seed_usage, sign_in):
    user = make_user("alice@example.com")
    user.laptop = make_key(user, "My Laptop/2")
    user.old = make_key(user, "old", revoked=True)
    seed_usage(user.laptop.token, days=range(0, 9))
    seed_usage(user.old.token, days=range(3, 12), seed=5)
    sign_in(user.email)
    return user


def _range(start, end) -> str:
    return f"start_date={start.isoformat()}&end_date={end.isoformat()}"


def test_json_export_has_exactly_the_documented_shape(client, alice, sim):
    start, end = day(6), TODAY
    response = client.get(f"/usage/export.json?key=all&{_range(start, end)}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == [
        "key", "start_date", "end_date", "timezone", "as_of", "stale", "totals", "daily",
        "models", "providers", "keys",
    ]  # fmt: skip
    assert body["stale"] is False
    assert body["key"] == "all" and body["timezone"] == "UTC"
    assert (body["start_date"], body["end_date"]) == (start.isoformat(), end.isoformat())
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", body["as_of"])
    assert set(body["totals"]) == set(METRIC_NAMES)
    tokens = {alice.laptop.token, alice.old.token}
    assert_metrics_equal(body["totals"], expected(sim, tokens, start, end))
    assert [d["date"] for d in body["daily"]] == [day(i).isoformat() for i in range(6, -1, -1)]
    assert all(set(d) == {"date", *METRIC_NAMES} for d in body["daily"])
    assert all(set(m) == {"model", *METRIC_NAMES} for m in body["models"])
    assert all(set(p) == {"provider", *METRIC_NAMES} for p in body["providers"])
    keys = {k["id"]: k for k in body["keys"]}
    assert keys[alice.old.id]["revoked"] is True and keys[alice.old.id]["name"] == "old"
    assert keys[alice.laptop.id]["revoked"] is False
    assert set(keys[alice.laptop.id]) == {"id", "name", "revoked", *METRIC_NAMES}
    assert_metrics_equal(keys[alice.old.id], expected(sim, {alice.old.token}, start, end))


def test_json_export_for_one_key(client, alice, sim):
    body = client.get(f"/usage/export.json?key={alice.laptop.id}&{_range(day(3), day(1))}")
    body = body.get_json()
    assert body["key"] == {"id": alice.laptop.id, "name": "My Laptop/2"}
    assert "keys" not in body
    assert_metrics_equal(body["totals"], expected(sim, {alice.laptop.token}, day(3), day(1)))


def test_csv_export_one_row_per_day_and_a_safe_filename(client, alice, sim):
    start, end = day(9), day(2)
    response = client.get(f"/usage/export.csv?key={alice.laptop.id}&{_range(start, end)}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition == (
        f'attachment; filename="usage-My-Laptop-2-{start.isoformat()}-to-{end.isoformat()}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == ["date", *METRIC_NAMES]
    assert [r["date"] for r in rows] == [day(i).isoformat() for i in range(9, 1, -1)]
    by_date = expected(sim, {alice.laptop.token}, start, end, by="date")
    for row in rows:
        wanted = by_date.get(row["date"], dict.fromkeys(METRIC_NAMES, 0))
        got = {n: float(row[n]) if n == "spend" else int(row[n]) for n in METRIC_NAMES}
        assert_metrics_equal(got, wanted)


def test_exports_carry_the_same_numbers_as_the_page(client, alice):
    query = "key=all&preset=30d"
    page = client.get(f"/usage?{query}").get_data(as_text=True)
    body = client.get(f"/usage/export.json?{query}").get_json()
    totals = body["totals"]
    assert f'<div class="value">{format_money(totals["spend"])}</div>' in page
    assert f'<div class="value">{totals["total_tokens"]:,}</div>' in page
    assert f'<div class="value">{totals["api_requests"]:,}</div>' in page
    # The page's export links name the exact range shown.
    start, end = body["start_date"], body["end_date"]
    assert f"/usage/export.csv?key=all&amp;start_date={start}&amp;end_date={end}" in page
    csv_rows = list(csv.DictReader(io.StringIO(client.get(f"/usage/export.csv?{query}").text)))
    assert sum(int(r["total_tokens"]) for r in csv_rows) == totals["total_tokens"]
    assert len(csv_rows) == len(body["daily"]) == 30


@pytest.mark.parametrize(
    "query",
    [
        "start_date=2026-02-30&end_date=2026-03-01",
        f"start_date={day(1)}&end_date={day(5)}",
        f"start_date={day(500)}&end_date={TODAY}",
        f"start_date={day(-3)}&end_date={day(-1)}",
        "key=laptop",
        "start_date=0001-01-01&end_date=0001-12-31",  # the day before overflowed: a 500
        "start_date=1999-12-31&end_date=2000-01-05",
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_bad_input_is_a_400_with_a_json_error(client, alice, sim, query, fmt):
    response = client.get(f"/usage/export.{fmt}?{query}")
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"} and response.get_json()["error"]
    assert sim.count(AGG) == 0


def test_another_users_key_is_a_404_like_a_missing_key(client, alice, make_user, make_key):
    bob = make_user("bob@example.com")
    bobs = make_key(bob, "bobs")
    for fmt in ("csv", "json"):
        theirs = client.get(f"/usage/export.{fmt}?key={bobs.id}")
        missing = client.get(f"/usage/export.{fmt}?key=424242")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.get_data() == missing.get_data()
        assert theirs.get_json() == {"error": "You have no key with this id."}


def test_unknown_alias_is_a_400_naming_the_alias(client, alice, make_key):
    ghost = make_key(alice, "ghost", store_token=False, in_litellm=False)
    response = client.get(f"/usage/export.json?key={ghost.id}")
    assert response.status_code == 400
    assert ghost.alias in response.get_json()["error"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_litellm_failure_is_a_502_with_a_json_error(client, alice, sim, fmt):
    sim.set_garbage(AGG, "html")
    response = client.get(f"/usage/export.{fmt}")
    assert response.status_code == 502
    assert "LiteLLM" in response.get_json()["error"]


def test_exports_round_spend_to_what_litellm_stores_without_float_noise(
    client, make_user, make_key, sim, sign_in
):
    user = make_user("noise@example.com")
    key = make_key(user, "noisy")
    for model, spend in (("a", 1.1), ("b", 2.2)):  # 1.1 + 2.2 == 3.3000000000000003 in floats
        sim.add_usage(token=key.token, date=TODAY, model=model, provider="p",
                      prompt_tokens=123_456_789, completion_tokens=1, spend=spend)  # fmt: skip
    sign_in(user.email)
    query = f"key={key.id}&preset=today"
    csv_text = client.get(f"/usage/export.csv?{query}").get_data(as_text=True)
    json_text = client.get(f"/usage/export.json?{query}").get_data(as_text=True)
    assert f"{TODAY.isoformat()},3.3,246913578," in csv_text
    assert '"spend": 3.3,' in json_text and '"prompt_tokens": 246913578' in json_text
    assert not re.search(r"\d\.\d{11,}", csv_text + json_text)  # no 0000000003 tails
