"""On a phone (390 px), a long key name must not push the usage filters out of their card."""

from __future__ import annotations

import pytest
from browser_helpers import create_key, sign_in

pytestmark = pytest.mark.browser

LONG_NAME = "a-very-long-key-name-for-the-notebook-integration-pipeline-" + "x" * 5


def test_key_select_fits_the_filters_card_on_a_phone(page, sim, portal):
    sign_in(page, "phone@example.com")
    create_key(page, LONG_NAME)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/usage?key=all&preset=today")

    card = page.locator("#usage-filters").bounding_box()
    select = page.locator("select[name=key]").bounding_box()
    assert card and select
    assert select["x"] + select["width"] <= card["x"] + card["width"], (select, card)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width} px wide"
