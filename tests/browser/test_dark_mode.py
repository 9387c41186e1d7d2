"""Dark mode follows prefers-color-scheme: page colours, the chart's palette, and contrast."""

from __future__ import annotations

import pytest
from browser_helpers import DEMO_EMAIL, DEMO_RANGE, assert_accessible, seed_demo, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# The chart palette of static/css/portal.css, as computed colours.
LIGHT_BAR = "rgb(36, 89, 199)"  # --chart-1 #2459c7
DARK_BAR = "rgb(122, 162, 255)"  # --chart-1 #7aa2ff (dark)
DARK_FAILED = "rgb(255, 138, 128)"  # --chart-5 #ff8a80 (dark)

COLOURS = """() => {
  const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
  return {
    background: css('html', 'backgroundColor'),
    text: css('body', 'color'),
    card: css('#usage-filters', 'backgroundColor'),
    input: css('#usage-key', 'backgroundColor'),
    bar: css('#usage-chart rect.bar', 'fill'),
    axis: css('#usage-chart text.y-label', 'fill'),
    grid: css('#usage-chart line.grid', 'stroke'),
    chart: css('#usage-chart', 'backgroundColor'),
  };
}"""


def _luminance(rgb: str) -> float:
    """Relative luminance (WCAG) of an ``rgb(r, g, b)`` string."""
    parts = [int(p) for p in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in parts)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.fixture
def demo(page, sim, portal):
    ids = seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    return ids


def test_colours_and_chart_palette_follow_the_colour_scheme(page, demo):
    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    expect(page.locator("#usage-chart rect.bar").first).to_be_attached()
    light = page.evaluate(COLOURS)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(COLOURS)

    for name in light:
        assert light[name] != dark[name], f"{name} is the same in light and dark: {light[name]}"
    assert _luminance(light["background"]) > 0.8 > 0.05 > _luminance(dark["background"])
    assert _luminance(light["text"]) < 0.05 and _luminance(dark["text"]) > 0.7
    assert light["bar"] == LIGHT_BAR and dark["bar"] == DARK_BAR
    # Every bar uses the palette, not a hard-coded colour.
    fills = page.eval_on_selector_all(
        "#usage-chart rect.bar", "rs => [...new Set(rs.map(r => getComputedStyle(r).fill))]"
    )
    assert fills == [DARK_BAR]

    # The stacked requests chart: successful and failed series, both from the dark palette.
    page.locator("#usage-chart nav").get_by_role("link", name="Requests").click()
    expect(page.locator("#usage-chart .legend")).to_be_visible()
    fills = page.eval_on_selector_all(
        "#usage-chart rect.bar", "rs => [...new Set(rs.map(r => getComputedStyle(r).fill))]"
    )
    assert DARK_FAILED in fills and len(fills) == 2
    swatches = page.eval_on_selector_all(
        ".legend .swatch", "ss => ss.map(s => getComputedStyle(s).backgroundColor)"
    )
    assert sorted(swatches) == sorted(fills)


def test_contrast_and_other_rules_pass_in_dark(page, demo, sim_server):
    page.emulate_media(color_scheme="dark")
    page.goto("/keys")
    page.get_by_label("Name").fill("dark-key")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-secret")).to_be_visible()
    page.get_by_role("row", name="laptop").get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("button", name="Yes, revoke")).to_be_visible()
    assert_accessible(page, "keys, dark")

    page.goto(f"/usage?key={demo['ci-pipeline']}&{DEMO_RANGE}&metric=requests")
    page.locator("#usage-chart details summary").click()
    assert_accessible(page, "usage one key, dark")
    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    assert_accessible(page, "usage all keys, dark")
    page.goto("/usage?preset=nope")
    assert_accessible(page, "usage invalid filters, dark")

    sim_server.shutdown()
    try:
        page.goto(f"/usage?key={demo['laptop']}&preset=today")
        expect(page.locator("#usage-api-error")).to_be_visible()
        assert_accessible(page, "usage error panel, dark")
    finally:
        sim_server.restart()
