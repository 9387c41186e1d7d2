"""One money format for every page: two decimals from a cent, more only below a cent."""

from __future__ import annotations

import pytest

from app.services.money import format_money, stored_spend


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "$0.00"),
        (0.0, "$0.00"),
        (17.0244, "$17.02"),
        (1234.5, "$1,234.50"),
        (0.01, "$0.01"),
        (0.00999999, "$0.01"),
        (0.00503, "$0.0050"),
        (0.0099, "$0.0099"),
        (0.0042, "$0.0042"),
        (0.00424999, "$0.0042"),
        (0.00000012, "$0.00000012"),
        (1e-12, "<$0.00000001"),
        (-3.1, "-$3.10"),
        (None, "—"),
    ],
)
def test_format_money(value, text):
    assert format_money(value) == text


def test_stored_spend_drops_float_noise_only():
    assert stored_spend(0.1 + 0.2) == 0.3
    assert stored_spend(0.00000123) == 0.00000123
    assert repr(stored_spend(-0.0)) == "0.0"


def test_every_page_writes_money_the_same_way(client, make_user, make_key, sim, sign_in):
    user = make_user("money@example.com")
    key = make_key(user, "laptop")
    with sim.lock:
        sim.keys[key.token].update(spend=0.0042, max_budget=12.5)
    sign_in(user.email)
    keys_page = client.get("/keys").get_data(as_text=True)
    # The budget bar: spend in the window (not "$0.00": it is not nothing) of the budget.
    assert '<span class="budget-figures">$0.0042 of $12.50' in keys_page
    usage_page = client.get("/usage").get_data(as_text=True)
    assert '<div class="value">$0.00</div>' in usage_page and "$0.0000" not in usage_page
