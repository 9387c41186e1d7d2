"""Comparisons on the usage page equal sums computed from the simulator's raw rows: deltas
against the previous period, compared keys, the stacked view by model, average cost per
request, success rate; and the tables' order."""

from __future__ import annotations

import re

import pytest
from usage_helpers import day, expected

from app.services.money import format_money

AGG = "/user/daily/activity/aggregated"


@pytest.fixture
def bob(make_user, make_key, sim, sign_in, seed_usage):
    """Bob with three keys and 14 days of random usage on each (plus someone else's)."""
    user = make_user("bob@example.com")
    keys = [make_key(user, name) for name in ("laptop", "ci", "notebook")]
    for n, key in enumerate(keys):
        seed_usage(key.token, days=range(0, 14), per_day=3, seed=n)
    stranger = make_key(make_user("eve@example.com"), "eve")
    seed_usage(stranger.token, days=range(0, 14), seed=9)
    sign_in(user.email)
    user.seeded = keys
    return user


def _card(html: str, card_id: str) -> str:
    match = re.search(
        rf'<div class="stat" id="{card_id}">(.*?)</div>\s*(?=<div class="stat"|</div>)', html, re.S
    )
    assert match, card_id
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _percent(current: float, previous: float) -> str:
    """The delta as the cards write it: equal periods (random data can make them so) say
    "no change", never "−0.0 %"."""
    if current == previous:
        return "no change"
    change = 100 * (current - previous) / previous
    return f"{'+' if change > 0 else '−'}{abs(change):,.1f} %"


def test_cards_compare_with_the_previous_period_of_the_same_length(client, bob, sim):
    tokens = {k.token for k in bob.seeded}
    html = client.get("/usage?key=all&preset=7d").get_data(as_text=True)
    now = expected(sim, tokens, day(6), day(0))
    before = expected(sim, tokens, day(13), day(7))

    spend = _card(html, "card-spend")
    assert spend.startswith(f"Spend {format_money(now['spend'])}")
    assert f"{_percent(now['spend'], before['spend'])} vs previous 7 days" in spend
    tokens_card = _card(html, "card-tokens")
    assert (
        f"{_percent(now['total_tokens'], before['total_tokens'])} vs previous 7 days" in tokens_card
    )
    requests = _card(html, "card-requests")
    assert f"{_percent(now['api_requests'], before['api_requests'])} vs previous 7 days" in requests

    average = _card(html, "card-average")
    assert average.startswith(
        f"Average cost per request {format_money(now['spend'] / now['api_requests'])}"
    )
    assert f"previous 7 days: {format_money(before['spend'] / before['api_requests'])}" in average
    success = _card(html, "card-success")
    assert success.startswith(
        f"Success rate {100 * now['successful_requests'] / now['api_requests']:.1f} %"
    )
    assert f"{100 * before['successful_requests'] / before['api_requests']:.1f} %" in success
    cache = _card(html, "card-cache")
    read, written = now["cache_read_input_tokens"], now["cache_creation_input_tokens"]
    assert f"Cache read {read:,} · written {written:,}" in cache
    assert sim.count(AGG) == 1  # both periods from one LiteLLM call


def _daily_table(html: str) -> tuple[list[str], dict[str, list[str]]]:
    table = html[
        html.index('id="usage-daily"') : html.index("</table>", html.index('id="usage-daily"'))
    ]
    heads = re.findall(r'<th scope="col" class="num">([^<]+)</th>', table)
    rows = {
        date: re.findall(r'<td class="num">([^<]+)</td>', cells)
        for date, cells in re.findall(r'<tr><th scope="row">([\d-]+)</th>(.*?)</tr>', table, re.S)
    }
    return heads, rows


def test_compared_keys_are_one_series_each_with_the_simulators_daily_sums(client, bob, sim):
    laptop, ci, _ = bob.seeded
    html = client.get(
        f"/usage?key=all&preset=7d&metric=tokens&view=keys&compare={ci.id},{laptop.id}"
    ).get_data(as_text=True)
    heads, rows = _daily_table(html)
    assert heads[:2] == ["ci", "laptop"]
    for offset in range(7):
        date = day(offset).isoformat()
        for column, key in enumerate((ci, laptop)):
            wanted = expected(sim, {key.token}, day(offset), day(offset))["total_tokens"]
            assert rows[date][column] == f"{wanted:,}", (date, key.label)
    assert html.count('class="series-line ') == 2 * 2  # a line per key, in both layouts
    assert re.search(rf'name="compare" value="{ci.id}" checked', html)


def test_the_stacked_view_by_model_sums_each_models_rows(client, bob, sim):
    tokens = {k.token for k in bob.seeded}
    html = client.get("/usage?key=all&preset=7d&view=models").get_data(as_text=True)
    heads, rows = _daily_table(html)
    for offset in range(7):
        by_model = expected(sim, tokens, day(offset), day(offset), by="model")
        for column, model in enumerate(heads[:-1]):
            wanted = by_model.get(model, {"spend": 0.0})["spend"]
            assert rows[day(offset).isoformat()][column] == format_money(wanted), (offset, model)


def _first_column(html: str, table_id: str) -> list[str]:
    table = html[
        html.index(f'id="{table_id}"') : html.index("</table>", html.index(f'id="{table_id}"'))
    ]
    return re.findall(r'<th scope="row">(?:<a [^>]*>)?([^<]+)', table)


def test_tables_sort_by_spend_by_default_and_by_any_column_on_request(client, bob, sim):
    tokens = {k: k.token for k in bob.seeded}
    start, end = day(6), day(0)
    spend = {k.label: expected(sim, {t}, start, end)["spend"] for k, t in tokens.items()}
    html = client.get("/usage?key=all&preset=7d").get_data(as_text=True)
    assert _first_column(html, "usage-keys") == sorted(spend, key=spend.get, reverse=True)
    assert 'aria-sort="descending"' in html

    html = client.get("/usage?key=all&preset=7d&sort=name").get_data(as_text=True)
    assert _first_column(html, "usage-keys") == ["ci", "laptop", "notebook"]
    failed = expected(sim, set(tokens.values()), start, end, by="model")
    html = client.get("/usage?key=all&preset=7d&sort=failed_requests").get_data(as_text=True)
    models = _first_column(html, "usage-models")
    assert [failed[m]["failed_requests"] for m in models] == sorted(
        failed[m]["failed_requests"] for m in models
    )
    link = re.search(r'<a class="sort-link" href="([^"]+)"[^>]*>Failed', html).group(1)
    assert "sort=-failed_requests" in link  # the sorted column's link turns the order round
    assert client.get("/usage?sort=bogus").status_code == 400


def test_the_admin_view_of_a_user_compares_their_keys_and_stays_on_admin(
    client, bob, make_user, sign_in, sim
):
    make_user("admin@example.com", is_admin=True)
    sign_in("admin@example.com")
    laptop, ci, _ = bob.seeded
    html = client.get(
        f"/admin/usage?user={bob.id}&preset=7d&view=keys&compare={laptop.id}"
    ).get_data(as_text=True)
    heads, rows = _daily_table(html)
    assert heads[0] == "laptop"
    wanted = expected(sim, {laptop.token}, day(0), day(0))["spend"]
    assert rows[day(0).isoformat()][0] == format_money(wanted)
    form = re.search(r'<form class="compare-keys"[^>]*>(.*?)</form>', html, re.S)
    assert 'action="/admin/usage"' in form.group(0)
    assert f'<input type="hidden" name="user" value="{bob.id}">' in form.group(1)
    assert re.search(r'(href|hx-get)="/usage\?', html) is None
