"""After a refused form, focus is on the first field to fix, with htmx and without it."""

from __future__ import annotations

import pytest
from browser_helpers import sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False])
def test_focus_lands_on_the_first_invalid_field(browser, portal, sim, javascript):
    context = browser.new_context(base_url=portal.url, java_script_enabled=javascript)
    page = context.new_page()
    try:
        sign_in(page, "fay@example.com")
        page.get_by_label("Name").fill("has spaces")
        page.get_by_label("Budget", exact=False).first.fill("lots")
        page.get_by_role("button", name="Create key").click()
        expect(page.locator("#key-name[aria-invalid=true]")).to_have_count(1)
        expect(page.get_by_label("Name")).to_be_focused()
    finally:
        context.close()
