"""End to end in Chromium: sign in, create a key, copy its secret once, usage, export, revoke."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from browser_helpers import add_daily_usage, create_key, sign_in, token_of, utc_today
from playwright.sync_api import expect

from app.services.money import format_money

pytestmark = pytest.mark.browser

EMAIL = "erin@example.com"
CURRENT_METRIC = "#usage-chart nav[aria-label='Chart metric'] [aria-current]"


def _money(value: float) -> str:
    return format_money(value)


def _summary(page) -> dict[str, str]:
    """The big numbers of the usage summary cards, by label."""
    cards = page.locator("#usage-summary .stat")
    return {
        cards.nth(i).locator(".label").inner_text(): cards.nth(i).locator(".value").inner_text()
        for i in range(cards.count())
    }


def test_key_lifecycle_with_usage_history_and_export(page, sim, portal):
    sign_in(page, EMAIL)
    expect(page.get_by_text("You have no keys yet.")).to_be_visible()

    secret = create_key(page, "laptop")
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{20,}", secret)
    copy = page.locator("button[data-copy-target=new-key-secret]")
    expect(copy).to_have_accessible_name("Copy")
    expect(copy).to_be_focused()  # the panel's data-autofocus after the htmx swap
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    expect(page.locator("#live-region")).to_have_text("Secret copied to the clipboard")

    # Shown once: a reload shows the key but never its secret.
    page.reload()
    expect(page.locator("#key-list")).to_contain_text("laptop")
    expect(page.locator("#new-key-secret")).to_have_count(0)
    assert secret not in page.content()

    # Usage for this key's token: 3 days inside the last 7, 2 more only inside the last 30.
    today = utc_today()
    recent = {
        today: (1.25, 1000, 500),
        today - dt.timedelta(days=2): (0.5, 400, 100),
        today - dt.timedelta(days=6): (0.25, 200, 50),
    }
    older = {
        today - dt.timedelta(days=10): (2.0, 3000, 1000),
        today - dt.timedelta(days=20): (4.0, 5000, 2000),
    }
    add_daily_usage(sim, token_of(secret), {**recent, **older})
    spend_7d = sum(v[0] for v in recent.values())
    spend_30d = spend_7d + sum(v[0] for v in older.values())
    tokens_30d = sum(v[1] + v[2] for v in {**recent, **older}.values())

    key_row = page.get_by_role("row", name=re.compile("laptop"))
    key_row.get_by_role("link", name="View usage").click()
    page.wait_for_url(re.compile(r"/usage\?key=\d+$"))
    first_url = page.url
    expect(page.locator("#usage-results")).to_contain_text("laptop")
    assert _summary(page)["Spend"] == _money(spend_7d)

    # Preset: the results swap, the URL is pushed.
    page.get_by_label("Period").select_option("30d")
    page.wait_for_url(re.compile(r"preset=30d"))
    expect(page.locator("#usage-summary")).to_contain_text(_money(spend_30d))
    url_30d = page.url

    # Chart metric: only the chart's metric changes, the URL is pushed again.
    page.locator("#usage-chart nav").get_by_role("link", name="Tokens").click()
    page.wait_for_url(re.compile(r"metric=tokens"))
    expect(page.locator("#usage-chart h2")).to_contain_text("Tokens")
    expect(page.locator(CURRENT_METRIC)).to_have_text("Tokens")
    assert "preset=30d" in page.url

    # Back restores the previous views, numbers, filters and chart included.
    page.go_back()
    page.wait_for_url(url_30d)
    expect(page.locator(CURRENT_METRIC)).to_have_text("Spend")
    expect(page.locator("#usage-summary")).to_contain_text(_money(spend_30d))
    expect(page.get_by_label("Period")).to_have_value("30d")
    page.go_back()
    page.wait_for_url(first_url)
    expect(page.locator("#usage-summary")).to_contain_text(_money(spend_7d))
    expect(page.get_by_label("Period")).to_have_value("7d")
    page.go_forward()
    page.wait_for_url(url_30d)
    expect(page.locator("#usage-summary")).to_contain_text(_money(spend_30d))

    # The CSV export carries the numbers on screen.
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("usage-laptop-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 30
    assert sum(float(r["spend"]) for r in rows) == pytest.approx(spend_30d)
    shown = _summary(page)
    assert _money(sum(float(r["spend"]) for r in rows)) == shown["Spend"]
    assert f"{sum(int(r['total_tokens']) for r in rows):,}" == shown["Total tokens"]
    assert sum(int(r["total_tokens"]) for r in rows) == tokens_30d

    # Revoke, with the confirmation step.
    page.get_by_role("link", name="Keys", exact=True).click()
    page.wait_for_url("**/keys")
    row = page.get_by_role("row", name=re.compile("laptop"))
    row.get_by_role("link", name="Revoke").click()
    confirm = page.get_by_role("button", name="Yes, revoke")
    expect(confirm).to_be_visible()
    expect(confirm).to_be_focused()
    assert sim.find_key(token_of(secret)) is not None  # nothing happened yet
    confirm.click()
    expect(page.locator("#key-list")).to_contain_text("revoked. Programs using it")
    expect(row.locator(".badge")).to_have_text("revoked")
    expect(row.get_by_role("link", name="Revoke")).to_have_count(0)
    expect(page.locator("#live-region")).to_have_text("Key list updated")
    # The confirm button went away with the swap: focus lands on the list, not on <body>.
    assert page.evaluate("() => document.activeElement.id") == "key-list"
    assert sim.find_key(token_of(secret)) is None

    # Its usage is still there.
    row.get_by_role("link", name="View usage").click()
    page.wait_for_url(re.compile(r"/usage\?key=\d+$"))
    expect(page.locator("#usage-results .badge.revoked")).to_be_visible()
    assert _summary(page)["Spend"] == _money(spend_7d)
