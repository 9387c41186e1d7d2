"""reconcile-keys over a proxy with 12,000 keys: few /key/list pages, more than the views' cap."""

from __future__ import annotations

import math

import sqlalchemy as sa

from app.extensions import db
from app.litellm_sim.fields import new_row
from app.litellm_sim.values import hash_token
from app.models import ApiKey, User
from app.services.keys import alias_for

USERS, KEYS_PER_USER = 120, 100  # 12,000 keys


def _seed(app, sim, users: int, keys_per_user: int, *, portal: bool = True) -> dict[int, str]:
    """Portal users and keys plus the same keys in the simulator, inserted in bulk (the
    simulator's one-by-one alias check would take minutes at this size)."""
    tokens: dict[str, str] = {}
    with app.app_context():
        owners = []
        for u in range(users):
            email = f"u{u}@example.com"
            owners.append(User(email=email, litellm_user_id=email))
        if portal:
            db.session.add_all(owners)
            db.session.flush()
        rows = []
        for owner in owners:
            for k in range(keys_per_user):
                alias = alias_for(owner, f"key{k}")
                token = hash_token(f"sk-{alias}")
                record = new_row()
                record.update(token=token, key_alias=alias, user_id=owner.litellm_user_id)
                record["created_at"] = record["updated_at"] = "2026-11-01T00:00:00Z"
                sim.keys[token] = record
                tokens[alias] = token
                if portal:
                    rows.append(
                        {"user_id": owner.id, "alias": alias, "label": f"key{k}",
                         "litellm_token_id": token}
                    )  # fmt: skip
        if rows:
            db.session.execute(sa.insert(ApiKey), rows)
        db.session.commit()
        ids = dict(db.session.execute(sa.select(ApiKey.alias, ApiKey.id)).all())
    return {ids[alias]: token for alias, token in tokens.items() if alias in ids}


def test_12000_keys_in_one_global_sweep_longer_than_the_views_cap(
    app, sim, reconcile, key_list_calls
):
    keys = _seed(app, sim, USERS, KEYS_PER_USER)
    gone = sorted(keys)[:3]
    for key_id in gone:
        sim.archive_key(keys[key_id])
    status, report = reconcile()
    assert status == 0, report["error"]
    pages = math.ceil((USERS * KEYS_PER_USER - 3) / 100)
    assert pages > app.config["LITELLM_MAX_PAGES"]  # a view could not follow this sweep
    calls = key_list_calls()
    # One global sweep (page 1 doubles as the probe), then one alias lookup per missing key.
    assert report["mode"] == "global"
    assert len(calls) == pages + 3 == report["litellm_calls"]
    assert [q.get("key_alias") for q in calls[pages:]] == [
        sim.deleted[keys[k]]["key_alias"] for k in gone
    ]
    counts = report["counts"]
    assert counts["in_sync"] == len(keys) - 3 and counts["missing"] == 3
    with app.app_context():
        missing = db.session.scalars(
            sa.select(ApiKey.id).where(ApiKey.litellm_missing_since.is_not(None))
        ).all()
    assert sorted(missing) == gone


def test_a_few_portal_users_on_a_big_proxy_sweep_per_user(
    app, sim, reconcile, make_user, make_key, key_list_calls
):
    _seed(app, sim, USERS, KEYS_PER_USER, portal=False)  # 12,000 keys the portal does not know
    for name in ("alice", "bob", "carol"):
        make_key(make_user(f"{name}@example.com"), "laptop")
    status, report = reconcile()
    assert status == 0 and report["counts"]["in_sync"] == 3
    calls = key_list_calls()
    assert report["mode"] == "per-user"
    assert len(calls) == 1 + 3  # the global probe (page 1), then one page per user
    assert sorted(q["user_id"] for q in calls[1:]) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
