"""The simulator, imitating 1.108.7, answers in the shapes a running LiteLLM 1.108.7 answered.

``contract/real-1.108.7/`` holds answers captured from that proxy: a key ``capture-alias`` of user
``capture-user`` with metadata ``{"env": "test"}`` and three chat completions on ``fake-gpt``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REAL = Path(__file__).parent / "contract" / "real-1.108.7"
CAPTURED_TOKEN = "512ce3866e9d5569237f42cf58d56bc66d11daee2ef0c6635b6ef0890396f1f1"
DAY = "2026-11-30"


def _real(name: str):
    return json.loads((REAL / f"{name}.json").read_text())


def _types(obj: dict) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in obj.items()}


@pytest.fixture
def captured(api, lsim):
    """The same key as in the capture, made through the simulator (no usage yet)."""
    lsim.set_version("1.108.7")
    body = {"key_alias": "capture-alias", "user_id": "capture-user", "metadata": {"env": "test"}}
    status, generated = api.post("/key/generate", body)
    assert status == 200
    return generated


def test_generate_fields_and_types(captured):
    assert _types(captured) == _types(_real("key_generate"))
    assert captured["router_settings"] == _real("key_generate")["router_settings"]


def test_info_fields_types_and_datetime_form(api, captured):
    real = _real("key_info")["info"]
    info = api.get("/key/info", key=captured["key"])[1]["info"]
    assert list(info) == list(real)
    assert _types(info) == _types(real)
    assert info["created_at"].endswith("+00:00") and real["created_at"].endswith("+00:00")


def test_list_item_fields_and_types(api, captured):
    real = _real("key_list")
    body = api.get("/key/list", return_full_object="true")[1]
    assert list(body) == list(real)
    assert _types(body["keys"][0]) == _types(real["keys"][0])
    assert body["keys"][0]["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/user/daily/activity", "user_daily_activity"),
        ("/user/daily/activity/aggregated", "user_daily_activity_aggregated"),
    ],
)
def test_daily_activity_is_identical(api, lsim, captured, path, name):
    lsim.add_usage(token=captured["token"], date=DAY, model="openai/fake-gpt",
                   model_group="fake-gpt", provider="openai", prompt_tokens=30,
                   completion_tokens=60, spend=0.00015, successful_requests=3,
                   total_response_time_ms=32, timed_requests=3)  # fmt: skip
    body = api.get(path, start_date=DAY, end_date=DAY)[1]
    as_captured = json.loads(json.dumps(body).replace(captured["token"], CAPTURED_TOKEN))
    assert as_captured == _real(name)
