"""flask reconcile-keys against a real LiteLLM proxy: a key deleted directly in LiteLLM is
marked and shown as such, an orphan the portal made is reported, then deleted on request."""

from __future__ import annotations

import json

from prod_support import flask_cli
from proxy_support import unique_email

from app.services.keys import PORTAL_TAG, alias_prefixes


def _reconcile(portal, email: str, *args: str) -> tuple[int, dict[str, str]]:
    result = flask_cli(portal.env, "reconcile-keys", "--user", email, "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["error"] is None
    return result.returncode, {r["alias"]: r["outcome"] for r in report["results"]}


def test_reconcile_after_deleting_a_key_directly_in_litellm(real_proxy, portal):
    email = unique_email("e2e")
    prefix = alias_prefixes(email)[0]
    user = portal.user(email)
    for label in ("kept", "doomed"):
        assert user.create_key(label, max_budget="5").status_code == 201
    deleted = real_proxy.admin("POST", "/key/delete", json={"key_aliases": [f"{prefix}doomed"]})
    assert deleted.status_code == 200, deleted.text

    status, outcome = _reconcile(portal, email)

    assert status == 0
    assert outcome == {f"{prefix}kept": "in_sync", f"{prefix}doomed": "missing"}
    assert "deleted in LiteLLM" in user.key_row("doomed")
    assert "deleted in LiteLLM" not in user.key_row("kept")

    # A key named like the portal's and tagged as its own, made outside it: the tag is forged
    # (anyone who can make keys can write it), so it is reported and never deleted.
    ghost = f"{prefix}ghost"
    real_proxy.generate_key(key_alias=ghost, user_id=email, metadata={"created_by": PORTAL_TAG})
    status, outcome = _reconcile(portal, email)
    assert status == 1 and outcome[ghost] == "orphan"
    status, outcome = _reconcile(portal, email, "--delete-orphans")
    assert status == 1 and outcome[ghost] == "orphan"
    listed = real_proxy.admin("GET", "/key/list", params={"key_alias": ghost}).json()
    assert listed["total_count"] == 1
