"""The usage page in Chromium: a custom range typed by keyboard, the page always equal to its
URL (Back, Forward, reload), readable charts at 1280 and 390 px, tooltips, no sideways scroll,
and no console errors on any page or swap."""

from __future__ import annotations

import datetime as dt
import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_helpers import DEMO_EMAIL, DEMO_RANGE, seed_demo, seed_key, sign_in, utc_today
from playwright.sync_api import expect

from app.services.usage_query import preset_range

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LONG_MODEL = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0-eu-central-1-provisioned-throughput"


def _usage_requests(page) -> list[str]:
    """Every /usage request htmx sends from now on (the list grows as they happen)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda r: (
            seen.append(r.url)
            if urlsplit(r.url).path == "/usage" and r.headers.get("hx-request")
            else None
        ),
    )
    return seen


def test_a_custom_range_typed_by_keyboard_sends_one_request_for_exactly_that_range(
    page, sim, portal
):
    seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.goto("/usage")
    sent = _usage_requests(page)

    page.get_by_label("Period").select_option("custom")  # waits for the dates, sends nothing
    start = page.get_by_label("Start (UTC day)")
    end = page.get_by_label("End (UTC day, inclusive)")
    expect(start).to_be_focused()
    # Chromium orders the fields by its own locale: find out from the first one typed.
    page.keyboard.type("09")
    month_first = start.input_value()[5:7] == "09"
    page.keyboard.type("012025" if month_first else "092025")  # the year passes 0002, 0020…
    page.keyboard.press("Tab")
    if not _is_focused(end):
        page.keyboard.press("Tab")  # past the calendar button
    expect(end).to_be_focused()
    page.keyboard.type("10152025" if month_first else "15102025")
    assert sent == []  # nothing while typing, not even once both dates were complete
    with page.expect_response(lambda r: urlsplit(r.url).path == "/usage"):
        page.keyboard.press("Enter")

    assert len(sent) == 1, sent
    query = parse_qs(urlsplit(sent[0]).query)
    assert query["start_date"] == ["2025-09-01"] and query["end_date"] == ["2025-10-15"]
    results = page.locator("#usage-results")
    expect(results).to_have_attribute("data-start-date", "2025-09-01")
    expect(results).to_have_attribute("data-end-date", "2025-10-15")
    expect(results).to_contain_text("2025-09-01 to 2025-10-15")
    assert parse_qs(urlsplit(page.url).query) == {
        "key": ["all"], "preset": ["custom"],
        "start_date": ["2025-09-01"], "end_date": ["2025-10-15"],
    }  # fmt: skip
    expect(start).to_have_value("2025-09-01")  # the answer did not rewrite what was typed
    page.wait_for_timeout(300)
    assert len(sent) == 1  # leaving the fields later sends nothing more


def _is_focused(locator) -> bool:
    return locator.evaluate("el => el === document.activeElement")


def _assert_page_is_its_url(page) -> None:
    """What the page shows is what its URL says: period, dates, key, metric, table order."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    preset = query.get("preset", "7d")
    if preset == "custom":
        start, end = query["start_date"], query["end_date"]
        expect(page.get_by_label("Start (UTC day)")).to_have_value(start)
        expect(page.get_by_label("End (UTC day, inclusive)")).to_have_value(end)
    else:
        assert "start_date" not in query and "end_date" not in query, page.url
        start, end = (d.isoformat() for d in preset_range(preset, utc_today()))
        expect(page.get_by_label("Start (UTC day)")).to_be_disabled()
    expect(page.get_by_label("Period")).to_have_value(preset)
    expect(page.get_by_label("Key", exact=True)).to_have_value(query.get("key", "all"))
    results = page.locator("#usage-results")
    expect(results).to_have_attribute("data-start-date", start)
    expect(results).to_have_attribute("data-end-date", end)
    metric = page.locator("#usage-chart nav[aria-label='Chart metric'] [aria-current]")
    expect(metric).to_have_text(query.get("metric", "spend").capitalize())
    view = page.locator("#usage-chart nav[aria-label='Chart view'] [aria-current]")
    expect(view).to_have_text(
        {"models": "By model", "keys": "Compare keys"}.get(query.get("view"), "Total")
    )
    sort = query.get("sort", "-spend")
    if query.get("key", "all") == "all":  # one key's report has no table of keys
        column = page.locator("#usage-keys th[aria-sort]")
        order = "descending" if sort[0] == "-" else "ascending"
        expect(column).to_have_attribute("aria-sort", order)
        expect(column).to_contain_text("Key" if sort.lstrip("-") == "name" else "Spend")


def test_back_forward_and_reload_show_the_view_of_the_url(page, sim, portal):
    ids = seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    urls = [page.url]

    def changed(action, pattern: str) -> None:
        action()
        page.wait_for_url(re.compile(pattern))
        expect(page.locator(".htmx-request")).to_have_count(0)
        _assert_page_is_its_url(page)
        urls.append(page.url)

    changed(lambda: page.get_by_label("Period").select_option("30d"), r"preset=30d$")
    changed(lambda: page.get_by_role("link", name="Tokens", exact=True).click(), r"metric=tokens")
    changed(lambda: page.locator("#usage-keys").get_by_role("link", name="Key").click(),
            r"sort=name")  # fmt: skip
    changed(lambda: page.get_by_role("link", name="By model").click(), r"view=models")
    changed(lambda: page.get_by_label("Key", exact=True).select_option(str(ids["laptop"])),
            rf"key={ids['laptop']}&")  # fmt: skip
    page.get_by_label("Period").select_option("custom")
    page.get_by_label("Start (UTC day)").fill("2025-03-05")
    page.get_by_label("End (UTC day, inclusive)").fill("2025-03-12")
    changed(lambda: page.get_by_role("button", name="Show usage").click(), r"start_date=2025-03-05")
    assert all("preset=30d&start" not in u for u in urls)  # no stale dates next to a preset

    for expected_url in reversed(urls[:-1]):
        page.go_back()
        page.wait_for_url(expected_url)
        _assert_page_is_its_url(page)
    for expected_url in urls[1:]:
        page.go_forward()
        page.wait_for_url(expected_url)
        _assert_page_is_its_url(page)
        page.reload()
        _assert_page_is_its_url(page)


def _seed_long_names(portal, sim) -> None:
    created = utc_today() - dt.timedelta(days=3)
    _, token = seed_key(portal, sim, DEMO_EMAIL, "a-key-with-a-rather-long-name-for-a-phone",
                        secret="sk-long-names-000000000000000Lx1", created=created)  # fmt: skip
    for offset, model in enumerate((LONG_MODEL, "gpt-4o-mini")):
        sim.add_usage(token=token, date=utc_today() - dt.timedelta(days=offset), model=model,
                      provider="bedrock", prompt_tokens=123_456_789, completion_tokens=98_765_432,
                      spend=12_345.678901, successful_requests=99_999, failed_requests=1,
                      user_id=DEMO_EMAIL)  # fmt: skip


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_no_sideways_scroll_with_long_model_names(page, sim, portal, viewport):
    _seed_long_names(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.set_viewport_size(viewport)
    for view in ("", "&view=models", "&view=keys"):
        page.goto(f"/usage?key=all&preset=7d{view}")
        expect(page.locator("#usage-models")).to_contain_text(LONG_MODEL)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{view}: the page is {width} px wide"
        # Wide tables scroll inside their frame, their name column stays in view.
        for wrap in page.locator("#usage-results .table-wrap").all():
            box = wrap.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        first = page.locator("#usage-models tbody th").first
        assert first.evaluate("el => getComputedStyle(el).position") == "sticky"
        numbers = page.locator("#usage-models td.num").first
        assert numbers.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"


def _visible_chart(page):
    return page.locator("#usage-chart svg.chart-svg:visible")


CHART_TEXT_SIZES = """svg => Array.from(svg.querySelectorAll('text'))
  .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
  .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_chart_ticks_are_nice_and_its_text_readable(page, sim, portal, viewport):
    seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.set_viewport_size(viewport)
    for metric in ("spend", "tokens", "requests"):
        page.goto(f"/usage?key=all&{DEMO_RANGE}&metric={metric}")
        svg = _visible_chart(page)
        expect(svg).to_have_count(1)
        labels = svg.locator("text.y-label").all_text_contents()
        values = [_tick_value(label) for label in labels]
        steps = {round(b - a, 9) for a, b in zip(values, values[1:], strict=False)}
        assert len(steps) == 1, labels
        step = steps.pop()
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), labels
        if metric == "spend":
            assert all(re.fullmatch(r"\$\d+(\.\d\d)?", label) for label in labels), labels
        sizes = svg.evaluate(CHART_TEXT_SIZES)
        assert sizes and min(sizes) >= 11, f"{metric}: chart text down to {min(sizes):.1f} px"
        box = svg.bounding_box()
        assert box["height"] >= 250, f"the plot is {box['height']} px high"


def _tick_value(label: str) -> float:
    number = label.replace("$", "").replace(",", "")
    scale = {"k": 1e3, "M": 1e6}.get(number[-1], 1)
    return float(number.rstrip("kM")) * scale


def _requests_chart_bars(page, sim, portal, viewport):
    """The bars of the demo user's requests chart (14 days), seen at ``viewport``."""
    seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.set_viewport_size(viewport)
    page.goto(f"/usage?key=all&{DEMO_RANGE}&metric=requests")
    return _visible_chart(page).locator(".slot")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_tooltips_show_on_hover_and_on_keyboard_focus(page, sim, portal, viewport):
    slots = _requests_chart_bars(page, sim, portal, viewport)
    expect(slots).to_have_count(14)
    tips = page.locator("#usage-chart .tip:visible")
    expect(tips).to_have_count(0)

    slots.nth(2).hover()
    expect(tips).to_have_count(1)
    expect(tips).to_contain_text("2025-03-05 (UTC)")
    expect(tips).to_contain_text(re.compile(r"Successful: [\d,]+"))
    expect(tips).to_contain_text(re.compile(r"Failed: \d+"))
    page.mouse.move(0, 0)
    expect(tips).to_have_count(0)

    page.locator("#usage-chart nav[aria-label='Chart view'] a").last.focus()
    page.keyboard.press("Tab")  # one tab stop: the chart's first bar
    expect(slots.nth(0)).to_be_focused()
    expect(tips).to_contain_text("2025-03-03 (UTC)")
    page.keyboard.press("ArrowRight")
    expect(slots.nth(1)).to_be_focused()
    expect(tips).to_have_count(1)
    expect(tips).to_contain_text("2025-03-04 (UTC)")
    expect(slots.nth(1)).to_have_attribute("aria-label", re.compile(r"^2025-03-04 \(UTC\); "))
    page.keyboard.press("End")
    expect(tips).to_contain_text("2025-03-16 (UTC)")
    page.keyboard.press("Tab")  # and out of the chart, not through 14 bars
    expect(slots.nth(13)).not_to_be_focused()
    expect(tips).to_have_count(0)
    # The daily numbers stay available as a table for screen readers.
    expect(page.locator("#usage-daily tbody tr")).to_have_count(14)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_a_tooltip_is_dismissed_with_escape_or_a_tap_elsewhere(page, sim, portal, viewport):
    slots = _requests_chart_bars(page, sim, portal, viewport)
    tips = page.locator("#usage-chart .tip:visible")
    slots.nth(3).click()  # a tap on a phone: the bar takes the focus and shows its numbers
    expect(tips).to_have_count(1)
    page.locator("h1").click()  # a tap outside the chart
    expect(tips).to_have_count(0)
    expect(slots.nth(3)).not_to_be_focused()

    slots.nth(0).focus()
    expect(tips).to_contain_text("2025-03-03 (UTC)")
    page.keyboard.press("Escape")  # hidden without moving the focus
    expect(tips).to_have_count(0)
    expect(slots.nth(0)).to_be_focused()
    page.keyboard.press("ArrowRight")  # the next bar shows its numbers again
    expect(tips).to_contain_text("2025-03-04 (UTC)")
    page.keyboard.press("ArrowLeft")
    expect(tips).to_contain_text("2025-03-03 (UTC)")


def test_no_console_errors_on_any_page_or_swap(page, sim, portal):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    favicon = []
    page.on("response", lambda r: favicon.append(r.status) if "favicon" in r.url else None)
    ids = seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.goto(f"/usage?key=all&{DEMO_RANGE}")
    swaps = [
        lambda: page.get_by_role("navigation", name="Chart metric").get_by_text("Requests").click(),
        lambda: page.get_by_role("link", name="By model").click(),
        lambda: page.get_by_role("link", name="Compare keys").click(),
        lambda: page.get_by_role("button", name="Compare").click(),
        lambda: page.locator("#usage-keys").get_by_role("link", name="Failed").click(),
        lambda: page.get_by_label("Period").select_option("yesterday"),
        lambda: page.get_by_label("Period").select_option("ytd"),
        lambda: page.get_by_label("Key", exact=True).select_option(str(ids["laptop"])),
        lambda: page.get_by_role("link", name="Refresh now").click(),
    ]
    for swap in swaps:
        with page.expect_response(lambda r: urlsplit(r.url).path == "/usage"):
            swap()
        expect(page.locator(".htmx-request")).to_have_count(0)
        _visible_chart(page).locator(".slot").first.hover()
    page.go_back()
    page.goto("/keys")
    page.get_by_role("link", name="Usage", exact=True).click()
    page.wait_for_url("**/usage")
    assert errors == [], errors
    assert favicon and set(favicon) <= {200, 304}, favicon


def test_arrowing_through_the_period_sends_one_request_for_the_choice(page, sim, portal):
    """Each arrow step on a closed select fires "change"; only the committed choice (Enter,
    or leaving the field) is applied: one request, one history entry."""
    seed_demo(portal, sim)
    sign_in(page, DEMO_EMAIL)
    page.goto("/usage?key=all&preset=today")
    sent = _usage_requests(page)
    history = page.evaluate("history.length")
    period = page.get_by_label("Period")
    period.focus()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.wait_for_timeout(400)
    assert sent == []  # nothing for the steps

    chosen = period.input_value()
    assert chosen != "today"
    with page.expect_response(lambda r: urlsplit(r.url).path == "/usage"):
        page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert len(sent) == 1 and parse_qs(urlsplit(sent[0]).query)["preset"] == [chosen], sent
    assert page.evaluate("history.length") == history + 1

    page.keyboard.press("ArrowDown")  # one more step, then Tab away: applied on leaving
    with page.expect_response(lambda r: urlsplit(r.url).path == "/usage"):
        page.keyboard.press("Tab")
    assert len(sent) == 2

    page.get_by_label("Period").select_option("7d")  # a pick with the mouse applies at once
    page.wait_for_timeout(400)
    assert len(sent) == 3
