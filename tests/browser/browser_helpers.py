"""Helpers shared by the browser tests: sign-in, key creation, usage seeding, axe, screenshots."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE_FILE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
# A same-origin path the portal does not serve: Playwright answers it from AXE_FILE, so the
# script passes the CSP ('self' scripts only) without production shipping test tooling.
AXE_ROUTE = "/__browser-tests__/axe-core.min.js"
# The README's pictures are refreshed on purpose (UPDATE_SCREENSHOTS=1); an ordinary run writes
# them to a temporary folder, so a test run leaves the working tree as it found it.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "portal-screenshots"
)


def sign_in(page: Page, email: str) -> None:
    """Dev sign-in through the real form; lands on the keys page."""
    page.goto("/auth/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/keys")


def create_key(page: Page, name: str) -> str:
    """Create a key through the form (htmx) and return the secret shown once."""
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-secret")
    secret.wait_for()
    return secret.inner_text().strip()


def token_of(secret: str) -> str:
    """LiteLLM's token id for a secret: sha256 hex of it, no salt."""
    return hashlib.sha256(secret.encode()).hexdigest()


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def add_daily_usage(sim, token: str, days: dict[dt.date, tuple[float, int, int]]) -> None:
    """One simulator usage row per day: ``{date: (spend, prompt_tokens, completion_tokens)}``."""
    for day, (spend, prompt, completion) in days.items():
        sim.add_usage(
            token=token,
            date=day,
            model="gpt-4o-mini",
            provider="openai",
            prompt_tokens=prompt,
            completion_tokens=completion,
            spend=spend,
            successful_requests=max(1, prompt // 500),
        )


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run the vendored axe-core on the page; describe every violation of these impacts.

    The script comes from tests/browser/vendor/, answered by Playwright at a same-origin URL
    (inline scripts would be refused by the CSP).
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.route(f"**{AXE_ROUTE}", lambda route: route.fulfill(path=AXE_FILE))
        page.add_script_tag(url=AXE_ROUTE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def assert_accessible(page: Page, state: str) -> None:
    """No serious or critical axe violation in the page as it is now."""
    violations = axe_violations(page)
    assert not violations, f"{state}: " + "; ".join(violations)


def screenshot(page: Page, name: str) -> Path:
    """Write <SCREENSHOTS>/<name>.png: the whole page, 1280 px wide (viewport 1280×900)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


def seed_key(
    portal,
    sim,
    email: str,
    label: str,
    *,
    secret: str,
    created: dt.date,
    max_budget: float | None = None,
    revoked: bool = False,
) -> tuple[int, str]:
    """A key as the portal would have created it (user, portal row, simulator key).

    Fixed secrets and dates keep screenshots the same from run to run. Returns (key id, token).
    """
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import ApiKey, User
    from app.services.keys import slug

    alias = f"{slug(email)}--{label}"
    created_at = dt.datetime.combine(created, dt.time(9, 30), tzinfo=dt.UTC)
    stored = sim.add_key(
        key_alias=alias, user_id=email, secret=secret, max_budget=max_budget, created_at=created_at
    )
    if revoked:
        sim.archive_key(stored["token"])  # what the portal's revoke does in LiteLLM
    with portal.app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is None:
            user = User(email=email, litellm_user_id=email, display_name=email.split("@")[0])
            db.session.add(user)
            db.session.flush()
        key = ApiKey(
            user_id=user.id,
            alias=alias,
            label=label,
            key_prefix=f"sk-...{secret[-4:]}",
            litellm_token_id=token_of(secret),
            max_budget=max_budget,
            created_at=created_at,
            revoked_at=created_at + dt.timedelta(days=20) if revoked else None,
        )
        db.session.add(key)
        db.session.commit()
        return key.id, key.litellm_token_id


# --- the demo data set (a11y, dark mode, screenshots) ----------------------------------------

DEMO_EMAIL = "alice@example.com"
DEMO_START = dt.date(2025, 3, 3)
DEMO_END = dt.date(2025, 3, 16)
DEMO_RANGE = f"preset=custom&start_date={DEMO_START}&end_date={DEMO_END}"
DEMO_MODELS = (
    ("gpt-4o-mini", "openai", 0.00000060),
    ("claude-3-5-sonnet", "anthropic", 0.0000090),
    ("text-embedding-3-small", "openai", 0.00000002),
)


def seed_demo(portal, sim, email: str = DEMO_EMAIL) -> dict[str, int]:
    """Three keys (one revoked) with two weeks of varied usage; returns {label: key id}."""
    created = DEMO_START - dt.timedelta(days=10)
    ids = {}
    specs = (
        ("laptop", "sk-demo-laptop-000000000000Ab3x", 50.0, False, 1.0),
        ("ci-pipeline", "sk-demo-ci-pipeline-0000000Qm7k", 200.0, False, 2.6),
        ("old-notebook", "sk-demo-old-notebook-00000Zz9w", None, True, 0.4),
    )
    for label, secret, budget, revoked, scale in specs:
        key_id, token = seed_key(
            portal, sim, email, label, secret=secret, created=created,
            max_budget=budget, revoked=revoked,
        )  # fmt: skip
        ids[label] = key_id
        day = DEMO_START
        n = 0
        while day <= DEMO_END:
            n += 1
            weekday_factor = 0.35 if day.weekday() >= 5 else 1.0
            for m, (model, provider, price) in enumerate(DEMO_MODELS):
                prompt = int((9000 + 4100 * ((n * 7 + m * 3) % 5)) * scale * weekday_factor)
                completion = prompt // (3 + m)
                requests = max(1, prompt // 900)
                sim.add_usage(
                    token=token,
                    date=day,
                    model=model,
                    provider=provider,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    spend=round((prompt + 3 * completion) * price, 6),
                    cache_read_input_tokens=prompt // 4 if m == 1 else 0,
                    successful_requests=requests,
                    failed_requests=2 if (n + m) % 4 == 0 else 0,
                    user_id=email,
                )
            day += dt.timedelta(days=1)
    return ids
