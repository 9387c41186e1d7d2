"""Rotation on real LiteLLM proxies (1.108.7 and 1.75.0): every field that limits or scopes a
key survives it, a blocked key is refused, the old secret holds only its share of the budget
and is refused by LiteLLM itself at its grace end, with no portal command run."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from portal_support import secret_in
from proxy_support import token_of, unique_email

from app.extensions import db
from app.models import User
from app.services import rotation
from app.services.keys import NewKeyRequest, create_key
from app.services.rotation_carry import unnamed_fields

pytestmark = pytest.mark.each_real_proxy


def _limits(real_proxy, member: str) -> dict:
    """What an admin sets on a key in LiteLLM (open source; model_max_budget is Enterprise)."""
    team = real_proxy.admin(
        "POST",
        "/team/new",
        json={
            "team_alias": unique_email("team"),
            "members_with_roles": [{"user_id": member, "role": "user"}],
        },
    )
    assert team.status_code == 200, team.text
    limits = {
        "max_parallel_requests": 3,
        "rpm_limit": 600,
        "tpm_limit": 1_000_000,
        "allowed_routes": ["/chat/completions"],
        "aliases": {"fast": "mock-gpt"},
        "team_id": team.json()["team_id"],
        "metadata": {"cost_center": "ml-7"},
    }
    if real_proxy.release >= (1, 100):
        limits["tpd_limit"] = 5_000_000  # 1.75.0 has no daily token limit
    return limits


def test_every_limiting_field_survives_a_rotation(real_proxy, portal):
    email = unique_email("carry")
    user = portal.user(email)
    old_secret = secret_in(user.create_key("laptop", max_budget="20", models="mock-gpt"))
    key_id = user.key_id("laptop")
    limits = _limits(real_proxy, email)
    changed = real_proxy.admin(
        "POST", "/key/update", json={"key": token_of(old_secret), **limits, "soft_budget": 5.0}
    )
    assert changed.status_code == 200, changed.text
    before = real_proxy.key_info(old_secret)
    assert unnamed_fields(before) == set(), "a /key/info field rotation does not know about"

    rotated = user.rotate(key_id, "1h")

    assert rotated.status_code == 200, rotated.text
    new_secret = secret_in(rotated)
    after = real_proxy.key_info(new_secret)
    for name, value in limits.items():
        if name == "metadata":
            assert after["metadata"]["cost_center"] == "ml-7"
        else:
            assert after[name] == value, name
    assert (after["models"], after["max_budget"]) == (["mock-gpt"], 20.0)
    assert after["budget_id"] == before["budget_id"]  # the soft budget's row comes along
    old = real_proxy.key_info(old_secret)
    expires = dt.datetime.fromisoformat(old["expires"].replace("Z", "+00:00"))
    in_an_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert in_an_hour - dt.timedelta(minutes=2) < expires <= in_an_hour
    # Nothing spent yet: the old secret holds half of the 20, the new one the other half.
    assert old["max_budget"] == pytest.approx(10.0)
    assert after["spend"] == pytest.approx(10.0)
    assert real_proxy.chat(new_secret).status_code == 200


def test_a_blocked_key_cannot_be_rotated(real_proxy, portal):
    user = portal.user(unique_email("blocked"))
    secret = secret_in(user.create_key("laptop"))
    key_id = user.key_id("laptop")
    blocked = real_proxy.admin("POST", "/key/block", json={"key": token_of(secret)})
    assert blocked.status_code == 200, blocked.text

    refused = user.rotate(key_id, "none")

    assert refused.status_code == 409, refused.text
    assert "blocked in LiteLLM" in refused.text
    info = real_proxy.key_info(secret)
    assert info["blocked"] is True and "@retired-" not in info["key_alias"]
    assert real_proxy.chat(secret).status_code in (400, 401)  # still refused: nothing undone


def test_the_old_secret_is_refused_at_its_grace_end_with_no_portal_command(
    real_proxy, build_app, monkeypatch
):
    """In process against the real proxy, with a 4-second grace so the test need not wait an
    hour: LiteLLM itself refuses the old secret once its grace ends."""
    app = build_app(
        schema=True, LITELLM_BASE_URL=real_proxy.base_url, LITELLM_MASTER_KEY=real_proxy.master_key
    )
    monkeypatch.setitem(rotation.GRACE_PERIODS, "1h", dt.timedelta(seconds=4))
    with app.app_context():
        email = unique_email("grace")
        owner = User(email=email, litellm_user_id=email)
        db.session.add(owner)
        db.session.commit()
        request = NewKeyRequest(label="laptop", idempotency_token=unique_email("t"), max_budget=5)
        created = create_key(owner, request)
        rotated = rotation.rotate_key(created.key, actor=owner, grace="1h")
    assert real_proxy.chat(created.secret).status_code == 200
    assert real_proxy.chat(rotated.secret).status_code == 200

    time.sleep(5)

    refused = real_proxy.chat(created.secret)
    # 1.108.7 answers 401, 1.75.0 answers 400; both say why.
    assert refused.status_code in (400, 401), refused.text
    assert refused.json()["error"]["type"] == "expired_key"
    assert real_proxy.chat(rotated.secret).status_code == 200
