"""The whole OpenID sign-in in Chromium against the real provider: sign in on the provider's
page, admin by group, sign out of the portal and of the provider (RP-initiated logout)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(8000)
    problems: list[str] = []
    new_page = context.new_page()
    new_page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield new_page
    context.close()
    assert not problems, problems


def _provider_login(page, login: str) -> None:
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("any")
    page.locator('button[type="submit"]').click()


def test_sign_in_as_group_admin_then_sign_out_everywhere(page, oidc_portal, oidc_issuer):
    portal = oidc_portal()
    page.goto(portal.url + "/usage")
    assert page.url.startswith(oidc_issuer + "/interaction/")
    _provider_login(page, "bob")

    page.wait_for_url(portal.url + "/usage")
    expect(page.locator(".user-email")).to_have_text("bob@example.com")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(oidc_issuer + "/**")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(re.compile(re.escape(portal.url + "/auth/signed-out") + r"(\?|$)"))
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()

    # Both sessions are over: the portal sends us to the provider, which asks for a login again.
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_url(oidc_issuer + "/interaction/**")
    expect(page.locator('input[name="login"]')).to_be_visible()


def test_signed_in_user_without_admin_group_sees_no_admin(page, oidc_portal):
    portal = oidc_portal()
    page.goto(portal.url + "/keys")
    _provider_login(page, "alice")
    page.wait_for_url(portal.url + "/keys")
    expect(page.locator(".user-email")).to_have_text("alice@example.com")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
