"""Keys end to end against a real LiteLLM proxy: what the portal creates is what LiteLLM stores
and enforces, revoking really disables the secret, keys made directly in LiteLLM are found by
``flask backfill-tokens``, and LiteLLM's refusals reach the user as messages."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from portal_support import secret_in
from prod_support import flask_cli
from proxy_support import USAGE_WAIT_SECONDS, token_of, unique_email, wait_for
from sqlalchemy.orm import Session

from app.models import ApiKey, User
from app.services.keys import PORTAL_TAG, alias_prefixes, slug


def test_created_key_is_stored_and_enforced_by_litellm_as_asked(real_proxy, portal):
    email = unique_email("e2e")
    user = portal.user(email)

    created = user.create_key("laptop", max_budget="25", duration="30d", models="mock-gpt")

    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    secret = secret_in(created)
    info = real_proxy.key_info(secret)
    assert info["key_alias"] == f"{alias_prefixes(email)[0]}laptop"
    assert info["user_id"] == email
    assert info["max_budget"] == 25.0
    assert info["models"] == ["mock-gpt"]
    assert info["metadata"]["created_by"] == PORTAL_TAG
    expires = dt.datetime.fromisoformat(info["expires"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert abs(expires - expected) < dt.timedelta(minutes=5)
    # The portal stored LiteLLM's token id (sha256 of the secret), never the secret.
    with portal.engine.connect() as conn:
        stored = conn.scalar(
            sa.select(ApiKey.litellm_token_id).where(ApiKey.alias == info["key_alias"])
        )
    assert stored == token_of(secret)

    # LiteLLM enforces what the portal asked for: the allowed model answers, another does not.
    assert real_proxy.chat(secret, "mock-gpt").status_code == 200
    refused = real_proxy.chat(secret, "mock-claude")
    assert refused.status_code in (401, 403), refused.text

    row = user.key_row("laptop")
    assert "$25.00" in row and "active" in row
    assert f"until {expires:%Y-%m-%d}" in row
    assert secret not in user.get("/keys").text


def test_key_page_shows_the_budget_window_and_reset_as_litellm_has_them(real_proxy, portal):
    user = portal.user(unique_email("e2e"))
    created = user.create_key("monthly", max_budget="3", budget_period="monthly")
    assert created.status_code == 201, created.text
    secret = secret_in(created)
    assert real_proxy.chat(secret).status_code == 200
    info = wait_for(
        lambda: real_proxy.key_info(secret),
        lambda found: found["spend"] > 0,
        "the request's spend on the key",
        USAGE_WAIT_SECONDS,
    )
    assert info["budget_duration"] == "1mo" and info["max_budget"] == 3.0

    page = user.get(f"/keys/{user.key_id('monthly')}").text

    reset = dt.datetime.fromisoformat(info["budget_reset_at"].replace("Z", "+00:00"))
    shown = reset.astimezone(dt.UTC)
    assert f'Next reset <time datetime="{shown.isoformat()}">{shown:%Y-%m-%d %H:%M} UTC' in page
    assert f"${info['spend']:.2f} of $3.00 monthly" in page
    assert 'id="key-live-error"' not in page and "As LiteLLM has it now" in page
    # The create form offers the models LiteLLM lists.
    form = user.get("/keys").text
    assert 'value="mock-gpt"' in form and 'value="mock-claude"' in form


def test_revoke_makes_the_secret_answer_401(real_proxy, portal):
    user = portal.user(unique_email("e2e"))
    secret = secret_in(user.create_key("temp", max_budget="5"))
    assert real_proxy.chat(secret).status_code == 200

    revoked = user.revoke(user.key_id("temp"))

    assert revoked.status_code in (200, 303), revoked.text
    answer = real_proxy.chat(secret)
    assert answer.status_code == 401, answer.text
    # (/key/info still answers 200 for a deleted key on 1.108.7; /key/list no longer has it)
    listed = real_proxy.admin("GET", "/key/list", params={"user_id": user.email}).json()
    assert listed["total_count"] == 0
    row = user.key_row("temp")
    assert "revoked" in row and "Revoke</a>" not in row


def test_backfill_resolves_keys_created_directly_in_litellm(real_proxy, portal):
    """Keys from before the portal stored token ids: the rows exist, the token ids do not."""
    email = unique_email("e2e")
    made = {
        label: real_proxy.generate_key(
            key_alias=f"{slug(email)}--{label}", user_id=email, max_budget=10
        )
        for label in ("old-laptop", "old-ci")
    }
    with Session(portal.engine) as session:
        owner = User(email=email, litellm_user_id=email, display_name="old")
        session.add(owner)
        session.flush()
        rows = {
            label: ApiKey(user_id=owner.id, alias=f"{slug(email)}--{label}", label=label)
            for label in (*made, "never-in-litellm")
        }
        session.add_all(rows.values())
        session.commit()
        ci_id = rows["old-ci"].id
    user = portal.user(email)
    # No page is opened first: /keys and the key page would resolve the token ids themselves
    # by alias (as /usage does), and this test is about the maintenance command.

    result = flask_cli(portal.env, "backfill-tokens", "--user", email, "--json")

    # 1: one key could not be resolved (it is not in LiteLLM), and the report says which.
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert "never-in-litellm" in json.dumps(report)
    with portal.engine.connect() as conn:
        stored = dict(
            conn.execute(
                sa.select(ApiKey.label, ApiKey.litellm_token_id)
                .join(User)
                .where(User.email == email)
            ).all()
        )
    assert stored == {
        "old-laptop": made["old-laptop"]["token"],
        "old-ci": made["old-ci"]["token"],
        "never-in-litellm": None,
    }
    assert made["old-ci"]["token"] == token_of(made["old-ci"]["key"])
    # With its token id stored, the key's page shows LiteLLM's live figures.
    assert "As LiteLLM has it now" in user.get(f"/keys/{ci_id}").text


def test_duplicate_alias_refused_by_litellm_is_shown_and_nothing_is_kept(real_proxy, portal):
    email = unique_email("e2e")
    alias = f"{alias_prefixes(email)[0]}desk"
    real_proxy.generate_key(key_alias=alias, user_id="someone-else", max_budget=1)
    user = portal.user(email)

    refused = user.create_key("desk", max_budget="5")

    assert 400 <= refused.status_code < 500, refused.text
    assert 'id="key-create-error"' in refused.text
    assert "“desk” cannot be used" in refused.text
    assert alias not in refused.text and "someone-else" not in refused.text
    assert not set(refused.text.split()) & {"Traceback", "sk-"}
    assert "You have no keys yet." in user.get("/keys").text
    same_alias = real_proxy.admin("GET", "/key/list", params={"key_alias": alias}).json()
    assert same_alias["total_count"] == 1


def test_budget_over_litellms_limit_is_shown_and_no_key_is_made(real_proxy, portal):
    email = unique_email("e2e")
    user = portal.user(email)

    refused = user.create_key("big", max_budget="5000")

    assert 400 <= refused.status_code < 500, refused.text
    assert 'id="key-create-error"' in refused.text
    assert "max_budget is over max limit" in refused.text
    assert "You have no keys yet." in user.get("/keys").text
    listed = real_proxy.admin("GET", "/key/list", params={"user_id": email}).json()
    assert listed["total_count"] == 0


def test_key_unknown_to_litellm_is_explained_on_usage_and_revokes_cleanly(real_proxy, portal):
    """A key deleted directly in LiteLLM: usage says LiteLLM does not know it, revoke works."""
    email = unique_email("e2e")
    with Session(portal.engine) as session:
        owner = User(email=email, litellm_user_id=email, display_name="gone")
        session.add(owner)
        session.flush()
        session.add(ApiKey(user_id=owner.id, alias=f"{slug(email)}--gone", label="gone"))
        session.commit()
    user = portal.user(email)
    key_id = user.key_id("gone")

    usage = user.get("/usage", key=key_id)

    assert usage.status_code == 200, usage.text
    assert 'id="usage-unknown-alias"' in usage.text
    assert "cannot find this key in LiteLLM" in usage.text

    revoked = user.revoke(key_id)
    assert revoked.status_code in (200, 303), revoked.text
    assert "revoked" in user.key_row("gone")
