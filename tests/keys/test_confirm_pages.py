"""The revoke and rotate confirmations as whole pages (opened from a key's page, or without
JavaScript) post plainly: their htmx targets, the key lists, are not on those pages, and htmx
would refuse to send a form whose target is missing."""

from __future__ import annotations

import pytest

HX = {"HX-Request": "true"}


@pytest.mark.parametrize("step", ["revoke", "rotate"])
def test_a_confirmation_page_posts_plainly_and_its_fragment_through_htmx(
    client, alice, make_key, step
):
    key = make_key(alice, "laptop")
    page = client.get(f"/keys/{key.id}/{step}").get_data(as_text=True)
    assert f'action="/keys/{key.id}/{step}"' in page
    assert "hx-post" not in page and 'hx-target="#key-list"' not in page
    fragment = client.get(f"/keys/{key.id}/{step}", headers=HX).get_data(as_text=True)
    assert f'hx-post="/keys/{key.id}/{step}"' in fragment and 'hx-target="#key-list"' in fragment


@pytest.mark.parametrize("step", ["revoke", "rotate"])
def test_an_admins_confirmation_page_posts_plainly(client, make_user, make_key, sign_in, step):
    owner = make_user("owner@example.com")
    key = make_key(owner, "laptop")
    make_user("admin@example.com", is_admin=True)
    sign_in("admin@example.com")
    url = f"/admin/users/{owner.id}/keys/{key.id}/{step}"
    page = client.get(url).get_data(as_text=True)
    assert f'action="{url}"' in page and "hx-post" not in page
    assert f'hx-post="{url}"' in client.get(url, headers=HX).get_data(as_text=True)
