"""A 64-character key name and a long e-mail at 320, 390 and 1280 px: the panels a person
meets while creating, rotating and revoking a key, and the usage page's key lists, never make
the page scroll sideways, and the whole name stays available."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LONG_EMAIL = "firstname.middlename.lastname.for-layouts@research-department.example.com"
LONG_NAME = ("quarterly-reporting-notebook-integration-pipeline-for-finance-" + "x" * 64)[:64]
WIDTHS = (320, 390, 1280)


# What sticks out on the right, to name it when a page scrolls sideways.
WIDE_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (el.closest('.table-wrap') && !el.classList.contains('table-wrap')) continue;
    if (r.width > 0 && r.right > width + 0.5) {
      out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${Math.round(r.right)}`);
    }
  }
  return out.slice(0, 6);
}"""


def _assert_fits(page, what: str, width: int) -> None:
    page.wait_for_load_state("load")  # a whole-page answer measured before its stylesheet
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{what} at {width}px is {scroll}px wide: {page.evaluate(WIDE_JS)}"


@pytest.mark.parametrize("width", WIDTHS)
def test_create_rotate_and_revoke_panels_fit_with_a_64_character_name(page, portal, sim, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, LONG_EMAIL)
    _assert_fits(page, "/keys", width)
    page.get_by_label("Name").fill(LONG_NAME)
    page.get_by_role("button", name="Create key").click()
    page.locator("#new-key-secret").wait_for()
    _assert_fits(page, "the new-secret panel", width)
    assert LONG_NAME in page.locator("main").inner_text()  # the whole name, not cut

    key_id = page.locator("#key-list tbody tr").first.get_attribute("id").split("-")[-1]
    page.goto(f"/keys/{key_id}/rotate")
    _assert_fits(page, "the rotate page", width)
    page.get_by_label("1 hour").check()
    page.get_by_role("button", name="Rotate secret").click()
    page.locator("#new-key-secret").wait_for()
    _assert_fits(page, "the rotated panel", width)

    page.goto(f"/keys/{key_id}")
    _assert_fits(page, "the key page", width)
    page.goto(f"/keys/{key_id}/revoke")
    _assert_fits(page, "the revoke page", width)
    page.get_by_role("button", name="Revoke").last.click()
    expect(page.locator("main")).to_contain_text("revoked")
    _assert_fits(page, "the revoked message", width)

    page.goto("/usage?key=all&preset=7d&view=keys")
    _assert_fits(page, "the usage page's key comparison", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_compare_keys_list_and_chart_fit_with_long_names(page, portal, sim, width):
    import datetime as dt

    from browser_helpers import add_daily_usage, seed_key, utc_today

    today = utc_today()
    for n in range(3):
        label = (f"{n}-" + LONG_NAME)[:64]
        _key_id, token = seed_key(portal, sim, LONG_EMAIL, label,
                                  secret=f"sk-compare-{n}-" + "0" * 20,
                                  created=today - dt.timedelta(days=20))  # fmt: skip
        add_daily_usage(sim, token, {today - dt.timedelta(days=d): (0.5 + n, 100, 50)
                                     for d in range(3)})  # fmt: skip
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, LONG_EMAIL)
    page.goto("/usage?key=all&preset=7d&view=keys")
    expect(page.locator("#usage-chart")).to_be_visible()
    _assert_fits(page, "the Compare keys view", width)
