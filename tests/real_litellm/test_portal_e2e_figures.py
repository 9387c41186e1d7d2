"""One figure per fact against a real LiteLLM: a key with a monthly budget, rotated once, with
requests on both of its secrets. Its lifetime spend is the same on /keys, on its own page and
in an export over its lifetime, and equals what LiteLLM filed under both token ids."""

from __future__ import annotations

import datetime as dt
import re

from portal_support import secret_in
from proxy_support import token_of, unique_email

from app.services.lineage import as_utc


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _litellm_spend(real_proxy, tokens: list[str], day: str) -> float:
    total = 0.0
    for row in real_proxy.daily_activity(day, day):
        for token in tokens:
            entry = row.get("breakdown", {}).get("api_keys", {}).get(token, {})
            total += entry.get("metrics", {}).get("spend", 0.0)
    return total


def test_lifetime_spend_agrees_on_every_page_across_a_rotation(real_proxy, portal):
    user = portal.user(unique_email("figures"))
    old = secret_in(user.create_key("desk", max_budget="20", budget_period="monthly"))
    key_id = user.key_id("desk")
    for _ in range(2):
        assert real_proxy.chat(old).status_code == 200
    new = secret_in(user.rotate(key_id, "1h"))
    assert real_proxy.chat(new).status_code == 200
    today = dt.datetime.now(dt.UTC).date().isoformat()
    real_proxy.wait_for_requests(token_of(old), today, today, 2)
    real_proxy.wait_for_requests(token_of(new), today, today, 1)
    filed = _litellm_spend(real_proxy, [token_of(old), token_of(new)], today)
    assert filed > 0

    row = user.key_row("desk")
    cell = re.search(r'data-label="Spend">(.*?)</td>', row, re.S)[1]
    keys_page = _money(re.sub(r"<[^>]+>", "", cell).strip())
    page = user.get(f"/keys/{key_id}").text
    key_page = _money(re.search(r'id="key-lifetime-spend">([^<]+)<', page)[1])
    with portal.engine.connect() as conn:
        made = conn.exec_driver_sql(
            "SELECT created_at FROM api_keys WHERE id = ?", (key_id,)
        ).scalar_one()
    start = as_utc(dt.datetime.fromisoformat(str(made))).date().isoformat()
    exported = user.export_json(key_id, start, today)["totals"]["spend"]

    assert keys_page == key_page == round(exported, 2) == round(filed, 2)
