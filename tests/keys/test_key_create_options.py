"""The create form's budget period (LiteLLM's budget_duration), its models from LiteLLM's model
list (free text when LiteLLM cannot list them) and messages that say what is allowed."""

from __future__ import annotations

import re

import pytest
from werkzeug.datastructures import MultiDict

from app.keys.forms import NAME_RULE

HX = {"HX-Request": "true"}


@pytest.mark.parametrize(("period", "budget_duration"), [("daily", "1d"), ("weekly", "7d"),
                                                         ("monthly", "1mo")])  # fmt: skip
def test_budget_period_is_sent_stored_and_shown_as_litellm_resets_it(
    client, alice, create_form, sim, rows, period, budget_duration
):
    response = client.post(
        "/keys", data=create_form(name="team", max_budget="20", budget_period=period)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    (row,) = rows()
    live = sim.keys[row.litellm_token_id]
    assert live["budget_duration"] == budget_duration == row.budget_duration
    assert live["budget_reset_at"] is not None

    html = client.get(f"/keys/{row.id}").get_data(as_text=True)
    reset = re.search(r'Next reset <time datetime="([^"]+)"', html).group(1)
    assert reset == live["budget_reset_at"].replace("Z", "+00:00")
    assert f"$0.00 of $20.00 {period}" in html


def test_no_budget_period_sends_none(client, alice, create_form, sim, rows):
    client.post("/keys", data=create_form(name="plain", max_budget="5"))
    (row,) = rows()
    assert sim.keys[row.litellm_token_id]["budget_duration"] is None
    assert row.budget_duration is None


def test_an_unknown_budget_period_is_refused_with_the_choices(client, alice, create_form, sim):
    sim.reset_calls()
    response = client.post("/keys", data=create_form(name="x", budget_period="yearly"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="key-budget_period-error"' in html
    assert "Choose none, daily, weekly or monthly." in html
    assert sim.count("/key/generate") == 0


def test_models_are_chosen_from_litellms_list(client, alice, create_form, sim, rows):
    sim.models[:] = ["mock-gpt", "mock-claude", "embed-small"]
    page = client.get("/keys").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" name="models" value="([^"]+)"', page)
    assert boxes == ["mock-gpt", "mock-claude", "embed-small"]

    data = create_form(name="two")
    response = client.post("/keys", data=MultiDict([*data.items(), ("models", "mock-gpt"),
                                                    ("models", "embed-small")]))  # fmt: skip
    assert response.status_code == 201
    (row,) = rows()
    assert sim.keys[row.litellm_token_id]["models"] == ["mock-gpt", "embed-small"]


def test_a_model_litellm_does_not_offer_is_refused_with_the_list(client, alice, create_form, sim):
    sim.reset_calls()
    response = client.post("/keys", data=create_form(name="x", models="gpt-9"), headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "LiteLLM has no model “gpt-9”. Choose from: mock-gpt, mock-claude." in html
    assert 'id="key-models-error"' in html
    assert sim.count("/key/generate") == 0


def test_models_are_free_text_when_litellm_cannot_list_them(client, alice, create_form, sim, rows):
    sim.set_fault("/models", 500)
    page = client.get("/keys").get_data(as_text=True)
    assert 'type="checkbox"' not in page
    assert '<input id="key-models" name="models" type="text"' in page
    assert "LiteLLM could not list its models just now" in page
    client.post("/keys", data=create_form(name="free", models="any-model, other"))
    (row,) = rows()
    assert sim.keys[row.litellm_token_id]["models"] == ["any-model", "other"]


def test_the_name_rule_says_what_is_allowed(client, alice, create_form):
    response = client.post("/keys", data=create_form(name="café laptop"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert NAME_RULE in html
    assert "letters a–z or A–Z, digits, “-”, “_” and “.” — no spaces or accents" in NAME_RULE


@pytest.mark.parametrize("budget", ["５", "٥", "1_000", "1e3", " 10 5"])
def test_a_budget_is_written_in_ascii_digits(client, alice, create_form, sim, budget):
    response = client.post("/keys", data=create_form(max_budget=budget))
    assert response.status_code == 400
    assert "Enter an amount in USD" in response.get_data(as_text=True)
    assert sim.count("/key/generate", "POST") == 0


@pytest.mark.parametrize("duration", ["999999d", "999999w", "3651d", "121mo"])
def test_a_lifetime_past_the_maximum_is_refused_before_litellm(
    client, alice, create_form, sim, duration
):
    response = client.post("/keys", data=create_form(duration=duration))
    assert response.status_code == 400
    assert "may live at most 3,650 days" in response.get_data(as_text=True)
    assert sim.count("/key/generate", "POST") == 0


def test_the_longest_allowed_lifetime_is_accepted(client, alice, create_form, sim):
    assert client.post("/keys", data=create_form(duration="3650d")).status_code == 201
