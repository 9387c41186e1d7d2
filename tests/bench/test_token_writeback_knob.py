"""LITELLM_TOKEN_WRITEBACK: off emulates the pre-column design the benchmark compares against."""

from __future__ import annotations

import pytest

from app.config import Config
from app.extensions import db
from app.models import ApiKey


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, True),
        ("on", True),
        ("1", True),
        ("off", False),
        ("0", False),
        ("false", False),
        ("No", False),
    ],  # fmt: skip
)
def test_writeback_setting_reads_the_environment(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("LITELLM_TOKEN_WRITEBACK", raising=False)
    else:
        monkeypatch.setenv("LITELLM_TOKEN_WRITEBACK", raw)
    assert Config().LITELLM_TOKEN_WRITEBACK is expected


def _usage_view(client, key_id: int) -> None:
    response = client.get(f"/usage?key={key_id}&start_date=2025-01-01&end_date=2025-01-07")
    assert response.status_code == 200
    assert "has no key with alias" not in response.get_data(as_text=True)


def _stored_token(app, key_id: int) -> str | None:
    with app.app_context():
        return db.session.get(ApiKey, key_id).litellm_token_id


def test_writeback_off_looks_the_token_up_on_every_view_and_stores_nothing(
    app, client, sim, make_user, make_key, sign_in
):
    app.config.update(LITELLM_TOKEN_WRITEBACK=False, LITELLM_KEY_LIST_TTL=0)
    user = make_user("old@example.com")
    key = make_key(user, "laptop", store_token=False)
    sign_in("old@example.com")
    for _ in range(3):
        _usage_view(client, key.id)
    assert sim.count("/key/list", "GET") == 3
    assert _stored_token(app, key.id) is None
    # The token was still found and used for the usage query.
    activity = [q for m, p, q in sim.calls if p.startswith("/user/daily/activity")]
    assert activity and all(q.get("api_key") == key.token for q in activity)


def test_writeback_on_by_default_stores_the_token_so_later_views_skip_the_lookup(
    app, client, sim, make_user, make_key, sign_in
):
    app.config.update(LITELLM_KEY_LIST_TTL=0)
    assert app.config["LITELLM_TOKEN_WRITEBACK"] is True
    user = make_user("new@example.com")
    key = make_key(user, "laptop", store_token=False)
    sign_in("new@example.com")
    for _ in range(3):
        _usage_view(client, key.id)
    assert sim.count("/key/list", "GET") == 1
    assert _stored_token(app, key.id) == key.token
