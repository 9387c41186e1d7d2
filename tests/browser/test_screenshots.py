"""Screenshots of the main pages, light and dark, for the README (docs/screenshots/*.png).

Fixed viewport (1280×900), fixed demo data and a fixed date range, so re-runs give the same
pictures except for the fresh key's secret and dates and the "data as of" time.
"""

from __future__ import annotations

import datetime as dt

import pytest
from browser_helpers import DEMO_EMAIL, DEMO_RANGE, screenshot, seed_demo, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGES = ("sign-in", "keys", "key", "usage-all", "usage-compare", "usage-key", "usage-outage")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(page, sim, sim_server, portal, scheme):
    page.emulate_media(color_scheme=scheme)
    ids = seed_demo(portal, sim)
    written = []

    page.goto("/auth/sign-in")
    page.get_by_label("Email").fill(DEMO_EMAIL)
    written.append(screenshot(page, f"sign-in-{scheme}"))
    sign_in(page, DEMO_EMAIL)

    page.get_by_label("Name").fill("notebook")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-secret")).to_be_visible()
    page.mouse.move(0, 0)
    written.append(screenshot(page, f"keys-{scheme}"))

    # The key page of a key with a monthly budget window, as LiteLLM reports it.
    laptop = next(k for k in sim.keys.values() if k["key_alias"].endswith("--laptop"))
    today = dt.datetime.now(dt.UTC).date()
    next_month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    laptop.update(
        spend=1.85,  # this month; the lifetime spend is higher
        budget_duration="1mo",
        budget_reset_at=f"{next_month.isoformat()}T00:00:00Z",
        rpm_limit=60,
        tpm_limit=100000,
        models=["gpt-4o-mini", "claude-3-5-sonnet"],
    )
    page.goto(f"/keys/{ids['laptop']}")
    expect(page.locator("#key-budget")).to_contain_text("monthly")
    written.append(screenshot(page, f"key-{scheme}"))

    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    expect(page.locator("#usage-chart rect.bar").first).to_be_attached()
    written.append(screenshot(page, f"usage-all-{scheme}"))

    page.goto(f"/usage?key=all&{DEMO_RANGE}&metric=tokens&view=keys")
    page.locator("#usage-chart .chart-wide .slot").nth(9).hover()  # its tooltip in the picture
    expect(page.locator("#usage-chart .tip-lifted")).to_be_visible()
    written.append(screenshot(page, f"usage-compare-{scheme}"))

    page.goto(f"/usage?key={ids['ci-pipeline']}&{DEMO_RANGE}&metric=requests")
    expect(page.locator("#usage-chart .legend")).to_be_visible()
    written.append(screenshot(page, f"usage-key-{scheme}"))

    sim_server.shutdown()
    try:
        page.goto(f"/usage?key={ids['laptop']}&{DEMO_RANGE}")
        expect(page.locator("#usage-api-error")).to_be_visible()
        written.append(screenshot(page, f"usage-outage-{scheme}"))
    finally:
        sim_server.restart()

    assert [p.name for p in written] == [f"{name}-{scheme}.png" for name in PAGES]
    for path in written:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width == 1280 and height >= 900, path.name
