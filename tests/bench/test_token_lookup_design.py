"""The benchmark's pre-column design (every view looks the token up) without a setting in the
portal: the benchmark clears the stored token id before each view."""

from __future__ import annotations

from app.extensions import db
from app.models import ApiKey
from scripts.benchmarks.services import TokenEraser


def _usage_view(client, key_id: int) -> None:
    response = client.get(f"/usage?key={key_id}&start_date=2025-01-01&end_date=2025-01-07")
    assert response.status_code == 200
    assert "has no key with alias" not in response.get_data(as_text=True)


def _stored_token(app, key_id: int) -> str | None:
    with app.app_context():
        return db.session.get(ApiKey, key_id).litellm_token_id


def test_clearing_the_token_before_each_view_makes_every_view_look_it_up(
    app, client, sim, make_user, make_key, sign_in
):
    app.config.update(LITELLM_KEY_LIST_TTL=0)
    user = make_user("old@example.com")
    key = make_key(user, "laptop", store_token=False)
    sign_in("old@example.com")
    with app.app_context():
        eraser = TokenEraser(db.engine)
    for _ in range(3):
        eraser(key.id)
        _usage_view(client, key.id)
        assert _stored_token(app, key.id) == key.token
    assert sim.count("/key/list", "GET") == 3
    # The token was still found and used for the usage query.
    activity = [q for m, p, q in sim.calls if p.startswith("/user/daily/activity")]
    assert activity and all(q.get("api_key") == key.token for q in activity)


def test_the_portal_stores_the_token_found_so_later_views_skip_the_lookup(
    app, client, sim, make_user, make_key, sign_in
):
    app.config.update(LITELLM_KEY_LIST_TTL=0)
    user = make_user("new@example.com")
    key = make_key(user, "laptop", store_token=False)
    sign_in("new@example.com")
    for _ in range(3):
        _usage_view(client, key.id)
    assert sim.count("/key/list", "GET") == 1
    assert _stored_token(app, key.id) == key.token
