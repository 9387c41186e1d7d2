"""Keys and admin pages with real-sized data, in Chromium at 390 px and 1280 px: no sideways
scrolling, every action on screen (not clipped by a table), and the revoke dialog usable with
the keyboard alone, accessible, and replaced by the confirmation page without JavaScript."""

from __future__ import annotations

import datetime as dt

import pytest
from browser_helpers import assert_accessible, seed_key, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LONG_EMAIL = "firstname.middlename.lastname.for-layouts@research-department.example.com"
ADMIN = "admin@example.com"
KEYS = 50
WIDTHS = (390, 1280)


def _label(n: int) -> str:
    """A 64-character label, the longest allowed."""
    return (f"{n:02d}-notebook-integration-pipeline-for-quarterly-reports-" + "x" * 64)[:64]


# Every link and button of the main content that is shown must lie inside the viewport and
# inside every scrolling/clipping box around it (a table wrapper that scrolls hides it).
OFFENDERS_JS = """() => {
  const width = document.documentElement.clientWidth;
  const bad = [];
  const controls = 'main a[href], main button, main select, main input';
  for (const el of document.querySelectorAll(controls)) {
    if (el.closest('dialog:not([open])') || el.closest('.visually-hidden')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const name = (el.textContent || el.name || el.id).trim().slice(0, 40);
    if (r.left < -0.5 || r.right > width + 0.5) {
      bad.push(`${name}: ${r.left}-${r.right} of ${width}`); continue;
    }
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.overflowX === 'visible') continue;
      const b = box.getBoundingClientRect();
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5) {
        bad.push(`${name}: clipped by ${box.tagName}.${box.className}`); break;
      }
    }
  }
  return bad;
}"""


@pytest.fixture
def big_portal(portal, sim):
    """50 keys with 64-character labels for a user with a long email, some revoked, with an
    audit trail; returns (the first key's id, the owner's id)."""
    from app import audit
    from app.extensions import db
    from app.models import ApiKey, User

    created = dt.date(2026, 11, 1)
    first = None
    for n in range(KEYS):
        key_id, _ = seed_key(
            portal, sim, LONG_EMAIL, _label(n), secret=f"sk-layout-{n:02d}-" + "0" * 20,
            created=created, max_budget=10.0 + n if n % 3 else None, revoked=n % 7 == 0,
        )  # fmt: skip
        first = first or key_id
    with portal.app.app_context():
        owner = db.session.scalar(db.select(User).where(User.email == LONG_EMAIL))
        for key in db.session.scalars(db.select(ApiKey).limit(20)):
            audit.record("key.create", actor=owner, target_user=owner, target_key=key,
                         detail={"alias": key.alias, "token_id": key.litellm_token_id},
                         commit=False)  # fmt: skip
        db.session.commit()
        return first, owner.id


def _assert_fits(page, what: str, width: int, *, actions: bool = True) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{what} at {width}px scrolls sideways: {scroll}px wide"
    if not actions:
        return
    offenders = page.evaluate(OFFENDERS_JS)
    assert not offenders, f"{what} at {width}px: " + "; ".join(offenders[:8])


def _confirm_without_a_page_load(page, dialog, confirm) -> None:
    """Reopen the dialog from the focused Revoke link and confirm it with the keyboard; htmx
    must do it in the same document (no page load)."""
    page.evaluate("window.sameDocument = true")
    page.keyboard.press("Enter")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    page.wait_for_function("window.sameDocument === true")


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_fit_with_long_labels_long_emails_and_50_keys(page, big_portal, width):
    first_key, owner = big_portal
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, LONG_EMAIL)
    page.goto("/keys")
    expect(page.locator("#key-list tbody tr")).to_have_count(KEYS)
    _assert_fits(page, "/keys", width)
    # Each active key's four actions (details, usage, rotate, revoke), each revoked key's two.
    revoked = KEYS // 7 + 1
    assert page.locator("#key-list .key-actions a").count() == (KEYS - revoked) * 4 + revoked * 2
    page.goto(f"/keys/{first_key}")
    expect(page.locator("#key-status")).to_be_visible()
    _assert_fits(page, "/keys/<id>", width)

    sign_in(page, ADMIN)
    # The users table of /admin/usage is laid out elsewhere; here the page must not scroll.
    page.goto("/admin/usage")
    expect(page.locator("#admin-users")).to_contain_text(LONG_EMAIL)
    _assert_fits(page, "/admin/usage", width, actions=False)
    page.goto("/admin/audit?user=" + LONG_EMAIL)
    expect(page.locator("#admin-audit-table tbody tr")).to_have_count(20)
    _assert_fits(page, "/admin/audit", width)
    page.goto(f"/keys/{first_key}")  # an admin sees anyone's key page
    _assert_fits(page, "/keys/<id> (admin)", width)
    page.goto(f"/admin/users/{owner}/keys")
    expect(page.locator("#admin-user-keys tbody tr")).to_have_count(KEYS)
    _assert_fits(page, "/admin/users/<id>/keys", width)


def test_revoke_dialog_with_the_keyboard(page, portal, sim):
    for n, label in enumerate(("laptop", "desk")):
        seed_key(portal, sim, "kim@example.com", label, secret=f"sk-dialog-{n}-" + "0" * 20,
                 created=dt.date(2026, 11, 2), max_budget=5.0)  # fmt: skip
    sign_in(page, "kim@example.com")
    page.goto("/keys")
    opener = page.get_by_role("row", name="laptop").get_by_role("link", name="Revoke")
    opener.focus()
    page.keyboard.press("Enter")

    dialog = page.locator("dialog#revoke-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name("Revoke key")
    confirm = dialog.get_by_role("button", name="Yes, revoke")
    expect(confirm).to_be_focused()
    assert_accessible(page, "revoke dialog open")
    inside = "document.querySelector('dialog[open]').contains(document.activeElement)"
    for key in ("Tab",) * 5 + ("Shift+Tab",) * 3:  # focus never leaves the dialog
        page.keyboard.press(key)
        assert page.evaluate(inside), key

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    expect(page.get_by_role("row", name="laptop")).to_contain_text("active")

    # Cancel closes it too; then the confirmed revoke updates the list and closes it.
    page.keyboard.press("Enter")
    expect(confirm).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("link", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    _confirm_without_a_page_load(page, dialog, confirm)
    expect(page.get_by_role("row", name="laptop")).to_contain_text("revoked")
    expect(page.locator("#key-list")).to_contain_text("revoked. Programs using it")
    expect(page.locator("#key-list")).to_be_focused()
    assert_accessible(page, "after revoking in the dialog")


def test_an_admin_revokes_someones_key_in_the_dialog(page, portal, sim):
    from app.extensions import db
    from app.models import User

    for n, label in enumerate(("laptop", "desk")):
        seed_key(portal, sim, "lee@example.com", label, secret=f"sk-admin-dialog-{n}-" + "0" * 16,
                 created=dt.date(2026, 11, 2))  # fmt: skip
    with portal.app.app_context():
        owner = db.session.scalar(db.select(User.id).where(User.email == "lee@example.com"))
    sign_in(page, ADMIN)
    page.goto(f"/admin/users/{owner}/keys")
    rows = page.locator("#admin-user-keys tbody tr")
    opener = rows.filter(has_text="laptop").get_by_role("link", name="Revoke")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#revoke-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("lee@example.com")  # whose key it is, before confirming
    confirm = dialog.get_by_role("button", name="Yes, revoke")
    expect(confirm).to_be_focused()
    assert_accessible(page, "admin revoke dialog open")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    _confirm_without_a_page_load(page, dialog, confirm)
    expect(rows.filter(has_text="laptop")).to_contain_text("revoked")
    expect(rows.filter(has_text="desk")).to_contain_text("active")
    expect(page.locator("main")).to_contain_text("Key “laptop” of lee@example.com revoked.")
    live = [k["key_alias"] for k in sim.keys.values() if k["user_id"] == "lee@example.com"]
    assert len(live) == 1 and live[0].endswith("desk")  # deleted in LiteLLM, the other kept


def test_revoke_without_javascript_uses_the_confirmation_page(browser, portal, sim):
    seed_key(portal, sim, "noscript@example.com", "laptop", secret="sk-noscript-" + "0" * 20,
             created=dt.date(2026, 11, 2))  # fmt: skip
    context = browser.new_context(base_url=portal.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "noscript@example.com")
        page.get_by_role("link", name="Revoke").click()
        expect(page.get_by_role("heading", name="Revoke key")).to_be_visible()
        assert "/revoke" in page.url
        page.get_by_role("button", name="Yes, revoke").click()
        page.wait_for_url("**/keys")
        expect(page.get_by_role("row", name="laptop")).to_contain_text("revoked")
    finally:
        context.close()


# The lines an element's text is broken into, as the reader sees them.
LINES_JS = """(el) => {
  const text = el.textContent, lines = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let top = null, line = '';
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      if (top !== null && Math.abs(rect.top - top) > 2) { lines.push(line); line = ''; }
      top = rect.top; line += node.data[i];
    }
  }
  lines.push(line);
  return lines;
}"""


def test_emails_in_admin_tables_break_only_after_their_at_and_dots(page, big_portal):
    sign_in(page, ADMIN)
    page.goto("/admin/audit?user=" + LONG_EMAIL)
    cell = page.locator("#admin-audit-table tbody tr td[data-label=Who]").first
    lines = cell.evaluate(LINES_JS)
    assert "".join(lines) == LONG_EMAIL and len(lines) > 1, lines  # it does not fit on one line
    assert all(line.endswith(("@", ".")) for line in lines[:-1]), lines


def test_picking_a_user_with_the_keyboard_lists_that_users_keys(page, portal, sim):
    """Keyboard only: the admin tabs to the User select, picks a user with the arrows and
    Enter, and the Key select lists that user's keys without a reload or "Show usage"."""
    for email, label in (("bob@example.com", "bobs-laptop"), ("carol@example.com", "carols-ci")):
        seed_key(portal, sim, email, label, secret=f"sk-pick-{label}-" + "0" * 16,
                 created=dt.date(2026, 11, 1))  # fmt: skip
    sign_in(page, ADMIN)
    page.goto("/admin/usage")
    keys = page.locator("#admin-usage-key option")
    expect(keys).to_have_text(["All keys (pick a user first)"])
    page.evaluate("window.sameDocument = true")
    user = page.get_by_label("User", exact=True)
    user.focus()
    for _ in range(2):  # all users → admin@ → bob@ (the list is by email)
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")

    expect(keys).to_have_text(["All keys of this user", "bobs-laptop"])
    expect(user).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Key", exact=True)).to_be_focused()
    assert page.evaluate("window.sameDocument === true")  # no page load


def test_the_admin_keys_table_at_1280_keeps_rows_short_and_dates_whole(page, big_portal):
    """The alias column is one line (whole on hover and focus), so a row is not 14 lines tall;
    dates never wrap as "2026-11-/01"."""
    first_key, owner = big_portal
    sign_in(page, ADMIN)
    page.goto(f"/admin/users/{owner}/keys")
    rows = page.locator("#admin-user-keys tbody tr")
    expect(rows).to_have_count(KEYS)
    heights = rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 140, max(heights)
    for cell in ("Created", "Last used"):
        tops = page.locator(f"#admin-user-keys tbody tr td[data-label='{cell}']").first.evaluate(
            "td => new Set([...td.querySelectorAll('time')].flatMap(t => [...t.getClientRects()]"
            ".map(r => Math.round(r.top)))).size"
        )
        assert tops <= 1, cell
    alias = page.locator("#admin-user-keys .alias-cut").first
    alias.focus()  # whole when focused from the keyboard
    assert alias.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    _assert_fits(page, "/admin/users/<id>/keys", 1280)
