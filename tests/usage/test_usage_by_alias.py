"""History of a key deleted in LiteLLM before the portal stored its token id: matched by the
alias AND the owner in LiteLLM's activity metadata, and said so on the page."""

from __future__ import annotations

from usage_helpers import TODAY

HX = {"HX-Request": "true"}


def _use(sim, token: str, spend: float) -> None:
    sim.add_usage(token=token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=100, completion_tokens=10, spend=spend)  # fmt: skip


def test_a_deleted_keys_history_is_matched_by_alias_and_owner(
    client, make_user, make_key, sign_in, sim
):
    alice = make_user("alice@example.com")
    gone = make_key(alice, "old-ci", store_token=False, revoked=True)
    _use(sim, gone.token, 1.5)
    sim.archive_key(gone.token)  # deleted before the portal learnt its id
    # Later someone else's key with the same alias, and a proxy that ignores user_id.
    bobs = sim.add_key(key_alias=gone.alias, user_id="bob@example.com")
    _use(sim, bobs["token"], 9.0)
    sim.set_ignore_user_filter(True)
    sign_in("alice@example.com")
    for headers in ({}, HX):
        response = client.get(f"/usage?key={gone.id}", headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert 'id="usage-matched-by-alias"' in html and "matched by its name" in html
        assert "$1.50" in html and "$9.00" not in html and "$10.50" not in html
        assert 'id="usage-unknown-alias"' not in html


def test_nothing_under_the_alias_still_says_unknown(client, make_user, make_key, sign_in):
    alice = make_user("alice@example.com")
    ghost = make_key(alice, "ghost", store_token=False, in_litellm=False)
    sign_in("alice@example.com")
    html = client.get(f"/usage?key={ghost.id}").get_data(as_text=True)
    assert 'id="usage-unknown-alias"' in html and "usage-matched-by-alias" not in html
