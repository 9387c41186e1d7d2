"""End to end in Chromium: rotate a key's secret, see the new one once, keep the history whole,
and the old secret deleted when its grace ends."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from browser_helpers import add_daily_usage, create_key, sign_in, token_of, utc_today
from playwright.sync_api import expect

from app.extensions import db
from app.models import ApiKeyToken, utcnow
from app.services import litellm_client
from tests.day_cache_support import expire_usage_days

pytestmark = pytest.mark.browser


def test_rotate_a_secret_with_a_grace_period_and_keep_the_usage(page, sim, portal):
    sign_in(page, "erin@example.com")
    old_secret = create_key(page, "laptop")
    today = utc_today()
    add_daily_usage(sim, token_of(old_secret), {today - dt.timedelta(days=2): (0.75, 400, 100)})
    page.reload()

    row = page.get_by_role("row", name=re.compile("laptop"))
    row.get_by_role("link", name="Rotate secret").click()
    expect(page.get_by_label("1 hour")).to_be_checked()  # the default grace
    page.get_by_label("24 hours").check()
    page.get_by_role("button", name="Rotate secret").click()

    panel = page.locator("#new-key-panel")
    expect(panel).to_contain_text("rotated")
    expect(panel).to_contain_text("The old secret keeps working until")
    new_secret = page.locator("#new-key-secret").inner_text().strip()
    assert new_secret != old_secret and new_secret.startswith("sk-")
    expect(page.locator("button[data-copy-target=new-key-secret]")).to_be_focused()
    assert sim.find_key(token_of(old_secret)) is not None  # in its grace period
    add_daily_usage(sim, token_of(new_secret), {today: (1.25, 1000, 500)})
    with portal.app.app_context():
        # That use came after the page above held today's usage (briefly, as today is young).
        expire_usage_days(litellm_client())

    # Shown once: a reload shows the key, never a secret.
    page.reload()
    expect(page.locator("#new-key-secret")).to_have_count(0)
    assert new_secret not in page.content()

    # One key, its usage over both secrets.
    page.get_by_role("row", name=re.compile("laptop")).get_by_role(
        "link", name="View usage"
    ).click()
    page.wait_for_url(re.compile(r"/usage\?key=\d+$"))
    expect(page.locator("#usage-summary")).to_contain_text("$2.00")

    # The grace ends: the next look at the keys deletes the old secret in LiteLLM.
    with portal.app.app_context():
        db.session.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.delete_after.is_not(None))
            .values(delete_after=utcnow() - dt.timedelta(seconds=1))
        )
        db.session.commit()
    page.get_by_role("link", name="Keys", exact=True).click()
    page.wait_for_url("**/keys")
    assert sim.find_key(token_of(old_secret)) is None
    assert sim.find_key(token_of(new_secret)) is not None


def test_rotating_from_the_key_page_ends_on_the_keys_address_and_a_reload_posts_nothing(
    page, portal, sim
):
    sign_in(page, "rosa@example.com")
    create_key(page, "desk")
    key_id = page.locator("#key-list tbody tr").first.get_attribute("id").split("-")[-1]
    page.goto(f"/keys/{key_id}")
    page.get_by_role("link", name="Rotate secret…").click()
    page.get_by_label("1 hour").check()
    page.get_by_role("button", name="Rotate secret").click()

    secret = page.locator("#new-key-secret")
    secret.wait_for()
    expect(page.get_by_role("button", name="Copy")).to_be_focused()  # focus on the result
    # The answer is the keys page: it takes that page's address, so a reload does not post.
    assert page.url.endswith("/keys"), page.url
    generated = sim.count("/key/generate", "POST")
    page.reload()
    expect(page.get_by_role("row", name=re.compile("desk"))).to_be_visible()
    expect(page.locator("#new-key-secret")).to_have_count(0)
    assert sim.count("/key/generate", "POST") == generated
