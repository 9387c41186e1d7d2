"""LiteLLM stopped while someone looks at usage: an error panel, then Retry, then stale data."""

from __future__ import annotations

import pytest
from browser_helpers import add_daily_usage, seed_key, sign_in, utc_today
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

EMAIL = "olga@example.com"


@pytest.fixture
def litellm_down(sim_server):
    """Call it to stop the simulator; it is started again (same port) whatever happens."""
    yield sim_server.shutdown
    if not sim_server.running:
        sim_server.restart()


def test_outage_panel_then_retry_then_stale_banner(page, sim, sim_server, portal, litellm_down):
    today = utc_today()
    key_id, token = seed_key(
        portal, sim, EMAIL, "batch-jobs", secret="sk-outage-test-secret-0001", created=today
    )
    add_daily_usage(sim, token, {today: (3.5, 2000, 1000)})
    sign_in(page, EMAIL)

    litellm_down()
    page.goto(f"/usage?key={key_id}")
    panel = page.locator("#usage-api-error")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("role", "alert")
    expect(panel.get_by_role("heading")).to_have_text("LiteLLM is unreachable")
    expect(page.locator("#usage-summary")).to_have_count(0)
    # The rest of the page still works: filters are there, the key is selected.
    expect(page.get_by_label("Key")).to_have_value(str(key_id))

    sim_server.restart()
    retry = panel.get_by_role("link", name="Retry")
    retry.focus()
    retry.press("Enter")
    expect(page.locator("#usage-summary")).to_contain_text("$3.50")
    expect(panel).to_have_count(0)
    expect(page.locator("#live-region")).to_have_text("Usage updated")
    # The Retry link is gone; focus went to the results region, not to <body>.
    assert page.evaluate("() => document.activeElement.id") == "usage-region"

    # LiteLLM goes away again: "Refresh now" falls back to the data already shown, and says so.
    litellm_down()
    page.get_by_role("link", name="Refresh now").click()
    stale = page.locator("#usage-stale")
    expect(stale).to_contain_text("LiteLLM unreachable, showing data from")
    expect(page.locator("#usage-summary")).to_contain_text("$3.50")
