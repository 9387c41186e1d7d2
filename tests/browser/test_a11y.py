"""Accessibility: axe-core on every page state, keyboard-only use, htmx swaps announced."""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    DEMO_EMAIL,
    DEMO_RANGE,
    assert_accessible,
    axe_violations,
    seed_demo,
    sign_in,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(page, sim, portal):
    """Alice, signed in, with the demo keys and usage; returns {label: key id}."""
    ids = seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    return ids


def test_axe_reports_a_serious_violation(page, portal):
    """The harness itself: axe runs under the CSP and a real violation is reported."""
    page.goto("/auth/sign-in")
    page.evaluate(
        """() => { const b = document.createElement('button');
                   document.querySelector('main').append(b); }"""
    )  # a button without a name
    assert any(v.startswith("button-name (critical)") for v in axe_violations(page))


def test_sign_in_page(page, portal):
    page.goto("/auth/sign-in")
    assert_accessible(page, "sign-in")
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#email-error")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "sign-in with an error")


def test_keys_pages(page, demo):
    page.goto("/keys")
    expect(page.locator("#key-list tbody tr")).to_have_count(3)
    assert_accessible(page, "keys with keys")

    page.get_by_label("Name").fill("bad name!")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-name-error")).to_be_visible()
    # Focus moves to the field to fix, which names its error.
    expect(page.get_by_label("Name")).to_be_focused()
    expect(page.get_by_label("Name")).to_have_accessible_description(re.compile("Use only"))
    assert_accessible(page, "keys with a form error")

    page.get_by_label("Name").fill("tablet")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-secret")).to_be_visible()
    assert_accessible(page, "keys with the new-secret panel")

    page.get_by_role("row", name=re.compile("laptop")).get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("button", name="Yes, revoke")).to_be_focused()
    assert_accessible(page, "inline revoke confirmation")

    page.goto(f"/keys/{demo['laptop']}/revoke")
    expect(page.get_by_role("heading", name="Revoke key")).to_be_visible()
    assert_accessible(page, "revoke confirmation page")


def test_usage_pages(page, demo, sim_server):
    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    expect(page.locator("#usage-keys")).to_be_visible()
    page.locator("#usage-chart details summary").click()  # the data table, too
    assert_accessible(page, "usage, all keys")

    page.goto(f"/usage?key={demo['ci-pipeline']}&{DEMO_RANGE}&metric=requests")
    expect(page.locator("#usage-chart .legend")).to_be_visible()
    assert_accessible(page, "usage, one key, stacked chart")

    page.goto("/usage?preset=someday&start_date=2025-02-30")
    expect(page.locator("#usage-invalid")).to_be_visible()
    assert_accessible(page, "usage with invalid filters")

    sim_server.shutdown()
    try:
        page.goto(f"/usage?key={demo['laptop']}&preset=today")
        expect(page.locator("#usage-api-error")).to_be_visible()
        assert_accessible(page, "usage error panel")
    finally:
        sim_server.restart()


def test_admin_pages(page, sim, portal):
    ids = seed_demo(portal, sim)
    sign_in(page, "admin@example.com")
    page.goto(f"/admin/usage?{DEMO_RANGE}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page, "admin usage")
    page.goto("/admin/audit")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page, "admin audit log")
    with portal.app.app_context():
        from app.extensions import db
        from app.models import ApiKey

        owner_id = db.session.get(ApiKey, ids["laptop"]).user_id
    page.goto(f"/admin/users/{owner_id}/keys")
    expect(page.get_by_role("rowheader", name="ci-pipeline")).to_be_visible()
    assert_accessible(page, "admin user keys")


def _tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has focus (fails after ``limit`` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _has_visible_focus(page) -> bool:
    """The focused element shows the focus ring (a real outline, not the UA's faint default)."""
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
    )
    return style[0] != "none" and style[1] >= 2


def test_keyboard_only_usage_filters_and_create_form(page, demo):
    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    # The skip link comes first and moves focus into the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert _has_visible_focus(page)

    _tab_to(page, "#usage-key")
    assert _has_visible_focus(page)
    page.keyboard.press("ArrowDown")  # All my keys → laptop: held until Enter (one request)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"key={demo['laptop']}"))
    expect(page.locator("#usage-results .usage-meta")).to_contain_text("laptop")
    expect(page.locator("#usage-key")).to_be_focused()  # the swap did not steal focus

    _tab_to(page, "#usage-preset")
    page.keyboard.press("Home")  # "Today"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"preset=today"))
    expect(page.locator("[data-custom-range]").first).to_be_hidden()
    page.keyboard.press("End")  # "Custom": the date fields appear and keep the shown range
    expect(page.locator("#usage-start")).to_be_visible()

    _tab_to(page, "#usage-filters button[type=submit]")
    assert _has_visible_focus(page)
    page.keyboard.press("Space")
    # Wait for that custom view's answer, or it could replace the chart being tabbed into.
    page.wait_for_url(re.compile(r"start_date="))
    expect(page.locator("#usage-region.htmx-request")).to_have_count(0)
    expect(page.locator("#usage-results")).to_be_visible()

    # Chart metric links: Enter switches, and focus stays on the (new) link.
    _tab_to(page, "#usage-chart nav[aria-label='Chart metric'] a:nth-child(2)")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"metric=tokens"))
    expect(page.locator("#usage-chart nav[aria-label='Chart metric'] [aria-current]")).to_have_text(
        "Tokens"
    )
    expect(
        page.locator("#usage-chart nav[aria-label='Chart metric'] [aria-current]")
    ).to_be_focused()
    assert _has_visible_focus(page)
    expect(page.locator("#live-region")).to_have_text("Usage updated")

    # The create form, keyboard only.
    page.goto("/keys")
    _tab_to(page, "#key-name")
    assert _has_visible_focus(page)
    page.keyboard.type("keyboard-key")
    _tab_to(page, "#key-create button[type=submit]")
    assert _has_visible_focus(page)
    page.keyboard.press("Enter")
    copy = page.locator("button[data-copy-target=new-key-secret]")
    expect(copy).to_be_focused()
    assert _has_visible_focus(page)
    expect(page.locator("#live-region")).to_have_text("Key list updated")
    page.keyboard.press("Space")
    expect(copy).to_have_text("Copied")
    expect(page.locator("#live-region")).to_have_text("Secret copied to the clipboard")
