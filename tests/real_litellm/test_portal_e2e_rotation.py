"""Rotate secret against a real open-source LiteLLM proxy (no /key/regenerate there): the new
secret works at once, the old one keeps working during its grace period and answers 401 once
``flask retire-tokens`` deleted it, and the key's usage counts both secrets."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from portal_support import secret_in
from prod_support import flask_cli
from proxy_support import requests_of, token_of, unique_email

from app.models import ApiKeyToken
from app.services.keys import alias_prefixes


def test_rotation_on_the_open_source_proxy_keeps_the_old_secret_for_its_grace(real_proxy, portal):
    email = unique_email("rot")
    user = portal.user(email)
    old_secret = secret_in(
        user.create_key("laptop", max_budget="25", models="mock-gpt", budget_period="monthly")
    )
    key_id = user.key_id("laptop")
    assert real_proxy.chat(old_secret).status_code == 200
    limits = {"rpm_limit": 600, "tpm_limit": 1_000_000}  # set by an admin in LiteLLM
    changed = real_proxy.admin("POST", "/key/update", json={"key": token_of(old_secret), **limits})
    assert changed.status_code == 200, changed.text
    # This proxy cannot regenerate in place: rotation has to work without it.
    refused = real_proxy.admin("POST", "/key/regenerate", json={"key": token_of(old_secret)})
    assert refused.status_code == 500 and "Enterprise" in refused.text

    rotated = user.rotate(key_id, "1h")

    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Cache-Control"] == "no-store"
    new_secret = secret_in(rotated)
    assert new_secret != old_secret
    info = real_proxy.key_info(new_secret)
    alias = f"{alias_prefixes(email)[0]}laptop"  # the portal's alias for this owner and label
    assert info["key_alias"] == alias
    assert info["user_id"] == email and info["max_budget"] == 25.0
    assert info["models"] == ["mock-gpt"] and info["budget_duration"] == "1mo"
    assert {name: info[name] for name in limits} == limits  # rotation keeps what limits the key
    assert re.fullmatch(rf"{re.escape(alias)}@retired-[0-9a-f]{{12}}",
                        real_proxy.key_info(old_secret)["key_alias"])  # fmt: skip
    # Both work during the grace period.
    assert real_proxy.chat(new_secret).status_code == 200
    assert real_proxy.chat(old_secret).status_code == 200

    # Still in its grace: the maintenance command leaves it alone.
    kept = flask_cli(portal.env, "retire-tokens", "--no-sweep")
    assert kept.returncode == 0, kept.stderr
    assert real_proxy.chat(old_secret).status_code == 200

    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with portal.engine.begin() as conn:
        conn.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.token_id == token_of(old_secret))
            .values(delete_after=past)
        )
    retired = flask_cli(portal.env, "retire-tokens")
    assert retired.returncode == 0, retired.stderr
    assert "1 old secret(s) deleted" in retired.stdout
    assert real_proxy.chat(old_secret).status_code == 401
    assert real_proxy.chat(new_secret).status_code == 200

    # The key's usage: every request of both secrets, as LiteLLM files them.
    today = dt.datetime.now(dt.UTC).date().isoformat()
    old_rows = real_proxy.wait_for_requests(token_of(old_secret), today, today, 3)
    new_rows = real_proxy.wait_for_requests(token_of(new_secret), today, today, 2)
    wanted = requests_of(old_rows, token_of(old_secret)) + requests_of(
        new_rows, token_of(new_secret)
    )
    exported = user.export_json(key_id, today, today)
    assert exported["totals"]["successful_requests"] == wanted == 5
