"""The page per key (/keys/<id>): live figures from LiteLLM's /key/info, why the key works or
not, its usage history and audit events, the portal's copy when LiteLLM does not answer, and who
may see it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiKey, AuditEvent

HX = {"HX-Request": "true"}


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _next_midnight(days: int) -> dt.datetime:
    """A UTC midnight ``days`` ahead of now: a budget reset that has not happened yet."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + dt.timedelta(days=days)


_RESET = _next_midnight(days=20)


def _set(sim, key, **fields):
    sim.keys[key.token].update(fields)


def _usage(sim, key, day: dt.date, spend: float, user_id: str) -> None:
    sim.add_usage(
        token=key.token,
        date=day,
        model="mock-gpt",
        provider="openai",
        spend=spend,
        prompt_tokens=10,
        completion_tokens=5,
        successful_requests=1,
        user_id=user_id,
    )


def _status(html: str) -> str:
    panel = re.search(r'<div class="key-status-panel.*?</div>', html, re.S)
    assert panel, "no status panel"
    return panel.group(0)


def test_live_budget_window_limits_and_models(client, alice, make_key, sim):
    key = make_key(alice, "laptop")
    reset_at = _next_midnight(days=3)
    reset = reset_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    _set(sim, key, spend=2.5, max_budget=10.0, budget_duration="7d", budget_reset_at=reset,
         rpm_limit=60, tpm_limit=100000, models=["mock-gpt"])  # fmt: skip

    response = client.get(f"/keys/{key.id}")
    html = response.get_data(as_text=True)

    assert response.status_code == 200 and "<html" in html
    assert "HX-Request" in response.headers["Vary"]
    assert "$2.50 of $10.00 weekly" in html and "25 % used, $7.50 left" in html
    shown = f'<time datetime="{reset_at.isoformat()}">{reset_at:%Y-%m-%d} 00:00 UTC</time>'
    assert shown in html
    assert "<code>7d</code>" in html
    assert "60 requests/min" in html and "100,000 tokens/min" in html
    assert re.search(r'id="key-models-allowed">mock-gpt<', html)
    assert "active" in _status(html) and "As LiteLLM has it now" in html
    assert 'id="key-live-error"' not in html

    fragment = client.get(f"/keys/{key.id}", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="key-detail"')


@pytest.mark.parametrize(
    ("fields", "state", "words"),
    [
        ({"blocked": True}, "blocked", "Blocked in LiteLLM"),
        (
            {
                "spend": 10.0,
                "max_budget": 10.0,
                "budget_duration": "1mo",
                "budget_reset_at": _RESET.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "over budget",
            f"until the budget resets on {_RESET:%Y-%m-%d} 00:00 UTC",
        ),  # fmt: skip
        ({"spend": 12.0, "max_budget": 10.0}, "over budget", "for good"),
        ({"expires": "2020-01-01T00:00:00Z"}, "expired", "Expired on 2020-01-01"),
    ],
)
def test_status_says_why_requests_fail(client, alice, make_key, sim, fields, state, words):
    key = make_key(alice, "laptop")
    _set(sim, key, **fields)
    panel = _status(client.get(f"/keys/{key.id}").get_data(as_text=True))
    assert f'<span class="badge {state.replace(" ", "-")}">{state}</span>' in panel
    assert words in panel


def test_a_key_deleted_in_litellm_says_so(client, alice, make_key, sim):
    key = make_key(alice, "laptop")
    del sim.keys[key.token]  # gone without a trace (older releases keep no archive)
    panel = _status(client.get(f"/keys/{key.id}").get_data(as_text=True))
    assert "deleted in LiteLLM" in panel and "deleted outside the portal" in panel

    archived = make_key(alice, "desk")
    sim.archive_key(archived.token)  # the 1.106+ archive: /key/info answers status "deleted"
    panel = _status(client.get(f"/keys/{archived.id}").get_data(as_text=True))
    assert "deleted in LiteLLM" in panel


def test_revoked_key_shows_revoked_and_its_lifetime_spend(client, alice, make_key, sim):
    key = make_key(alice, "old", revoked=True)
    sim.archive_key(key.token)
    today = dt.datetime.now(dt.UTC).date()
    _usage(sim, key, today - dt.timedelta(days=3), 1.75, alice.email)
    html = client.get(f"/keys/{key.id}").get_data(as_text=True)
    assert "revoked" in _status(html)
    assert re.search(r'id="key-lifetime-spend">\$1\.75<', html)
    day = (today - dt.timedelta(days=3)).isoformat()
    assert f'id="key-last-used"><time datetime="{day}">' in html
    assert "Revoke…" not in html


def test_usage_history_sparkline_links_to_usage(client, alice, make_key, sim):
    key = make_key(alice, "laptop")
    today = dt.datetime.now(dt.UTC).date()
    for back, spend in ((0, 0.5), (1, 1.5), (45, 9.0)):
        _usage(sim, key, today - dt.timedelta(days=back), spend, alice.email)
    # The key is older than the usage: lifetime counts from its creation.
    with client.application.app_context():
        db.session.execute(
            sa.update(ApiKey).where(ApiKey.id == key.id)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=60))
        )  # fmt: skip
        db.session.commit()
    html = client.get(f"/keys/{key.id}").get_data(as_text=True)
    assert re.search(r'id="key-lifetime-spend">\$11\.00<', html)
    assert f'id="key-last-used"><time datetime="{today.isoformat()}">' in html
    spark = re.search(r'<a id="key-sparkline".*?</a>', html, re.S).group(0)
    assert f'href="/usage?key={key.id}&amp;preset=30d"' in spark
    assert "$2.00 in total" in spark  # the last 30 days only
    assert len(re.search(r'points="([^"]+)"', spark).group(1).split()) == 30


def test_litellm_down_shows_the_portals_copy_in_an_error_panel(
    client, alice, make_key, sim, sim_server, app
):
    key = make_key(alice, "laptop")
    with app.app_context():
        db.session.execute(
            sa.update(ApiKey).where(ApiKey.id == key.id)
            .values(max_budget=25.0, budget_duration="1mo", models="mock-gpt")
        )  # fmt: skip
        db.session.commit()
    sim_server.shutdown()
    try:
        response = client.get(f"/keys/{key.id}")
    finally:
        sim_server.restart()
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    error = re.search(r'<div id="key-live-error".*?</div>', html, re.S).group(0)
    assert "LiteLLM is unreachable" in error and "portal's copy" in error
    assert "$25.00 monthly" in html and "Next reset unknown (not live)" in html
    assert re.search(r'id="key-models-allowed">mock-gpt<', html)
    assert "From the portal's records (not live)" in html
    assert "Usage history could not be read" in html


def test_other_peoples_keys_are_404_but_admins_see_them_audited(
    client, alice, make_user, make_key, sign_in, app
):
    bob = make_user("bob@example.com")
    bobs = make_key(bob, "secret-project")
    assert client.get(f"/keys/{bobs.id}").status_code == 404
    assert client.get("/keys/999999").status_code == 404

    sign_in("admin@example.com")
    html = client.get(f"/keys/{bobs.id}").get_data(as_text=True)
    assert "secret-project" in html and "Keys of bob@example.com" in html
    assert f'href="/admin/usage?user={bob.id}&amp;key={bobs.id}&amp;preset=30d"' in html
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.target_key_id == bobs.id)
        ).all()
    assert actions == ["admin.key.view"]


def test_audit_events_of_the_key_are_listed(client, alice, create_form, app):
    client.post("/keys", data=create_form(name="fresh"))
    with app.app_context():
        key_id = db.session.scalar(sa.select(ApiKey.id).where(ApiKey.label == "fresh"))
    html = client.get(f"/keys/{key_id}").get_data(as_text=True)
    events = re.search(r'<ul class="key-events".*?</ul>', html, re.S).group(0)
    assert "<code>key.create</code> by alice@<wbr>example.<wbr>com" in events


def test_the_list_links_each_key_to_its_page(client, alice, make_key):
    key = make_key(alice, "laptop")
    html = client.get("/keys").get_data(as_text=True)
    assert f'<a class="key-label" href="/keys/{key.id}" title="laptop">laptop</a>' in html
