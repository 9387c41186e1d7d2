"""Lifetime spend is one figure: ``/keys``, the key's page and a usage export over the key's
lifetime show the same number for the same key, whatever the key's story (a plain key, a key
whose budget window reset, a rotated key, a key imported with history before its portal row,
a key whose token id was not stored yet). Opening one page never changes another's figure."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from app.extensions import db
from app.litellm_sim.values import iso
from app.models import ApiKey, utcnow
from app.services.key_usage import lifetime_start
from app.services.rotation import rotate_key

TODAY = dt.datetime.now(dt.UTC).date()


def _use(sim, token: str, days_ago: int, spend: float) -> None:
    day = TODAY - dt.timedelta(days=days_ago)
    sim.add_usage(token=token, date=day, model="mock-gpt", provider="openai",
                  prompt_tokens=10, completion_tokens=5, spend=spend)  # fmt: skip


def _made_days_ago(app, sim, key, days: int) -> None:
    """The portal made ``key`` ``days`` ago (its row and LiteLLM's key alike)."""
    made = utcnow() - dt.timedelta(days=days)
    with app.app_context():
        row = db.session.get(ApiKey, key.id)
        row.created_at = row.litellm_created_at = made
        db.session.commit()
    with sim.lock:
        sim.keys[key.token]["created_at"] = iso(made)


@pytest.fixture
def story(app, alice, make_key, sim):
    """Alice's keys, each with a different story; → {label: (key id, lifetime spend)}."""
    plain = make_key(alice, "plain")
    _made_days_ago(app, sim, plain, 10)
    _use(sim, plain.token, 2, 1.25)
    _use(sim, plain.token, 0, 0.5)

    windowed = make_key(alice, "windowed")  # a daily budget: LiteLLM's spend reset last night
    _made_days_ago(app, sim, windowed, 10)
    _use(sim, windowed.token, 1, 3.0)
    with sim.lock:
        sim.keys[windowed.token].update(max_budget=5.0, budget_duration="1d", spend=0.1)

    imported = make_key(alice, "imported", store_token=False)  # LiteLLM made it 40 days ago
    with sim.lock:
        sim.keys[imported.token]["created_at"] = iso(utcnow() - dt.timedelta(days=40))
    _use(sim, imported.token, 35, 2.0)
    _use(sim, imported.token, 0, 0.25)

    rotated = make_key(alice, "rotated")
    _made_days_ago(app, sim, rotated, 10)
    _use(sim, rotated.token, 3, 1.0)
    with app.app_context():
        key = db.session.get(ApiKey, rotated.id)
        new_secret = rotate_key(key, actor=key.user, grace="none").secret
    new_token = hashlib.sha256(new_secret.encode()).hexdigest()
    _use(sim, new_token, 0, 0.75)

    return {"plain": (plain.id, 1.75), "windowed": (windowed.id, 3.0),
            "imported": (imported.id, 2.25), "rotated": (rotated.id, 1.75)}  # fmt: skip


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _keys_page_spend(html: str, key_id: int) -> float:
    row = re.search(rf'<tr id="key-row-{key_id}".*?</tr>', html, re.S).group(0)
    cell = re.search(r'data-label="Spend">(.*?)</td>', row, re.S).group(1)
    return _money(re.sub(r"<[^>]+>", "", cell).strip())


def _key_page_spend(client, key_id: int) -> float:
    html = client.get(f"/keys/{key_id}").get_data(as_text=True)
    return _money(re.search(r'id="key-lifetime-spend">([^<]+)<', html).group(1))


def _export_spend(app, client, key_id: int) -> float:
    with app.app_context():
        start = lifetime_start(db.session.get(ApiKey, key_id))
    query = f"key={key_id}&start_date={start}&end_date={TODAY}"
    body = client.get(f"/usage/export.json?{query}").get_json()
    return body["totals"]["spend"]


@pytest.mark.parametrize("order", ["keys page first", "key page first"])
def test_lifetime_spend_is_the_same_on_every_page(app, client, story, order):
    pages = []
    for label, (key_id, expected) in story.items():
        if order == "key page first":
            key_page = _key_page_spend(client, key_id)
            keys_page = _keys_page_spend(client.get("/keys").get_data(as_text=True), key_id)
        else:
            keys_page = _keys_page_spend(client.get("/keys").get_data(as_text=True), key_id)
            key_page = _key_page_spend(client, key_id)
        exported = _export_spend(app, client, key_id)
        pages.append((label, keys_page, key_page, exported))
        assert keys_page == key_page == pytest.approx(exported) == pytest.approx(expected), label
    # The first page opened wrote nothing that changed the others: ask again, same figures.
    html = client.get("/keys").get_data(as_text=True)
    again = [(label, _keys_page_spend(html, story[label][0])) for label, *_ in pages]
    assert again == [(label, keys_page) for label, keys_page, _, _ in pages]


def test_a_key_without_a_stored_token_has_live_figures_on_its_page(client, alice, make_key, sim):
    key = make_key(alice, "ci", store_token=False)
    with sim.lock:
        sim.keys[key.token].update(max_budget=50.0, spend=15.32)

    html = client.get(f"/keys/{key.id}").get_data(as_text=True)

    assert 'id="key-live-error"' not in html and "did not answer" not in html
    assert "$15.32 of $50.00" in html and "No budget: spend is not limited" not in html
    assert "No token id recorded yet" not in html
