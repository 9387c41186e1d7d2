"""Differential contract tests, keys and the model list: the same requests to a real LiteLLM
proxy and to the simulator imitating its release; statuses, error envelopes, field names, types
and values must agree except for the differences listed in ``divergences.py``.

The real proxy is shared with other tests, so every request is scoped by a user id of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from divergences import compare
from proxy_support import unique_name
from sim_pair import Reply, Twin, start_twin

from app.keys.forms import BUDGET_PERIODS


@pytest.fixture
def twin(real_proxy):
    yield from start_twin(real_proxy)


def check(twin: Twin, case: str, real: Reply, simulated: Reply) -> None:
    assert (real.status, simulated.status) == (real.status, real.status), (
        f"{case}: real {real.status} {real.body!r} / simulator {simulated.status} "
        f"{simulated.body!r}"
    )
    compare(case, twin.proxy.version, real.body, simulated.body)


def _key_body(user: str, label: str, **extra):
    # An explicit max_budget: the proxy's config gives keys without one its upper bound.
    return {"key_alias": f"{user}--{label}", "user_id": user, "max_budget": 5.0,
            "metadata": {"portal": "differential"}, **extra}  # fmt: skip


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_times(real: dict, simulated: dict) -> None:
    """``compare`` hides timestamps' values; the ones computed from a request must agree."""
    assert _when(simulated["budget_reset_at"]) == _when(real["budget_reset_at"])
    real_expires, sim_expires = _when(real["expires"]), _when(simulated["expires"])
    if real_expires is None or sim_expires is None:
        assert real_expires == sim_expires
    else:
        assert abs(real_expires - sim_expires) < timedelta(seconds=5)


@pytest.fixture
def user_with_keys(twin):
    """A fresh user with three keys on both sides (oldest first); returns (user, answers)."""
    user = unique_name("diff-user")
    made = []
    for label, extra in (("laptop", {}), ("ci", {"models": ["mock-gpt"]}),
                         ("batch", {"budget_duration": "30d", "duration": "7d"})):  # fmt: skip
        real, simulated = twin.generate(**_key_body(user, label, **extra))
        check(twin, "POST /key/generate", real, simulated)
        made.append(real.body)
        real_info, sim_info = twin.both("GET", "/key/info", params={"key": real.body["token"]})
        check_times(real_info.body["info"], sim_info.body["info"])
    return user, made


def test_generate_answers_agree(twin, user_with_keys):
    _, made = user_with_keys
    for key in made:
        assert key["token_id"] == key["token"] and key["key"].startswith("sk-")


@pytest.mark.parametrize(
    ("case", "extra"),
    [
        ("invalid duration", {"duration": "7x"}),
        ("unparsable duration", {"duration": "soon"}),
        ("invalid budget_duration", {"budget_duration": "7x"}),
        ("negative budget", {"max_budget": -1}),
        ("models not a list", {"models": "mock-gpt"}),
        ("secret without sk-", {"key": "not-an-sk-key"}),
    ],
)
def test_generate_errors_agree(twin, case, extra):
    user = unique_name("diff-bad")
    real, simulated = twin.generate(**{**_key_body(user, "x"), **extra})
    check(twin, f"POST /key/generate {case}", real, simulated)
    assert real.status >= 400


@pytest.mark.parametrize(("duration", "label"), [("7days", "7days"), ("monthly", "monthly")])
def test_generate_loose_durations_agree(twin, duration, label):
    user = unique_name("diff-dur")
    real, simulated = twin.generate(**_key_body(user, label, duration=duration))
    check(twin, "POST /key/generate", real, simulated)
    assert real.status == 200 and real.body["expires"] is not None
    check_times(real.body | {"budget_reset_at": None}, simulated.body | {"budget_reset_at": None})


def test_duplicate_alias_agrees(twin, user_with_keys):
    user, _ = user_with_keys
    real, simulated = twin.generate(**_key_body(user, "laptop"))
    check(twin, "POST /key/generate duplicate alias", real, simulated)
    assert real.status == 400


@pytest.mark.parametrize("full", ["true", "false"])
def test_list_pages_agree(twin, user_with_keys, full):
    user, made = user_with_keys
    for page in (1, 2, 3, 4):
        real, simulated = twin.both(
            "GET", "/key/list",
            params={"user_id": user, "size": 1, "page": page, "return_full_object": full},
        )  # fmt: skip
        check(twin, "GET /key/list", real, simulated)
    assert real.body["keys"] == [] and real.body["total_pages"] == 3  # page 4: past the end
    real, simulated = twin.both("GET", "/key/list", params={"user_id": user, "size": 100})
    check(twin, "GET /key/list", real, simulated)
    assert real.body["keys"] == [k["token"] for k in reversed(made)]  # newest first


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("user_id prefix", {"user_id": "{user_prefix}"}),
        ("alias", {"key_alias": "{user}--ci", "return_full_object": "true"}),
        ("alias prefix", {"key_alias": "{user}--c"}),
        ("key_hash", {"key_hash": "{token}"}),
        ("key_hash with raw secret", {"key_hash": "{secret}"}),
        ("status active", {"user_id": "{user}", "status": "active"}),
        ("status deleted", {"user_id": "{user}", "status": "deleted"}),
        ("sort by alias", {"user_id": "{user}", "sort_by": "key_alias", "sort_order": "asc"}),
        ("size too big", {"size": 101}),
        ("page zero", {"page": 0}),
        ("bad bool", {"return_full_object": "maybe"}),
        ("bad sort", {"sort_by": "nope"}),
        ("bad sort order", {"sort_by": "spend", "sort_order": "up"}),
        ("bad status", {"status": "gone"}),
    ],
)
def test_list_filters_and_errors_agree(twin, user_with_keys, case, params):
    user, made = user_with_keys
    values = {"user": user, "user_prefix": user[:-2], "token": made[1]["token"],
              "secret": made[1]["key"]}  # fmt: skip
    params = {k: v.format(**values) if isinstance(v, str) else v for k, v in params.items()}
    real, simulated = twin.both("GET", "/key/list", params=params)
    check(twin, f"GET /key/list {case}", real, simulated)


def test_info_agrees_by_hash_raw_and_after_delete(twin, user_with_keys):
    _, made = user_with_keys
    for value in (made[0]["token"], made[0]["key"], made[2]["token"]):
        real, simulated = twin.both("GET", "/key/info", params={"key": value})
        check(twin, "GET /key/info", real, simulated)
    real, simulated = twin.both("POST", "/key/delete", json={"keys": [made[0]["token"]]})
    check(twin, "POST /key/delete", real, simulated)
    real, simulated = twin.both("GET", "/key/info", params={"key": made[0]["token"]})
    check(twin, "GET /key/info deleted", real, simulated)
    assert real.body["info"]["status"] == "deleted"


@pytest.mark.parametrize(
    ("case", "method", "path", "kwargs"),
    [
        ("info unknown", "GET", "/key/info", {"params": {"key": "0" * 64}}),
        ("info without key", "GET", "/key/info", {}),
        ("delete unknown", "POST", "/key/delete", {"json": {"keys": ["0" * 64]}}),
        ("delete unknown alias", "POST", "/key/delete", {"json": {"key_aliases": ["nope-x"]}}),
        ("delete nothing", "POST", "/key/delete", {"json": {}}),
        ("update unknown", "POST", "/key/update", {"json": {"key": "0" * 64, "max_budget": 1}}),
        ("regenerate path", "POST", "/key/sk-unknown/regenerate", {"json": {}}),
        ("regenerate body", "POST", "/key/regenerate", {"json": {"key": "sk-unknown"}}),
        ("unknown route", "GET", "/key/nothing-here", {}),
        ("no api key", "GET", "/key/list", {"headers": {"Authorization": ""}}),
        ("wrong api key", "GET", "/key/list", {"headers": {"Authorization": "Bearer sk-wrong"}}),
        ("invalid json", "POST", "/key/generate",
         {"data": "nonsense", "headers": {"Content-Type": "application/json"}}),
    ],
)  # fmt: skip
def test_errors_agree(twin, case, method, path, kwargs):
    real, simulated = twin.both(method, path, **kwargs)
    check(twin, f"{method} {path} {case}", real, simulated)
    assert real.status >= 400


def test_delete_and_regenerate_of_a_live_key_agree(twin, user_with_keys):
    user, made = user_with_keys
    real, simulated = twin.both("POST", f"/key/{made[1]['token']}/regenerate", json={})
    check(twin, "POST /key/regenerate", real, simulated)
    assert real.status == 500  # open source: an Enterprise feature
    body = {"keys": [made[1]["token"]], "key_aliases": [made[2]["key_alias"]]}
    real, simulated = twin.both("POST", "/key/delete", json=body)
    check(twin, "POST /key/delete keys and aliases", real, simulated)
    real, simulated = twin.both("GET", "/key/list", params={"user_id": user})
    check(twin, "GET /key/list", real, simulated)


# --- what the create form and the key page rely on ------------------------------------------


@pytest.mark.parametrize("path", ["/models", "/v1/models"])
def test_model_list_agrees(twin, path):
    real, simulated = twin.both("GET", path)
    check(twin, f"GET {path}", real, simulated)
    assert [m["id"] for m in real.body["data"]] == ["mock-gpt", "mock-claude"]


@pytest.mark.parametrize("budget_duration", [d for d in BUDGET_PERIODS.values() if d])
def test_budget_windows_the_portal_offers_agree(twin, budget_duration):
    user = unique_name("diff-window")
    body = {"key_alias": f"{user}--window", "user_id": user, "max_budget": 5.0,
            "budget_duration": budget_duration}  # fmt: skip
    real, simulated = twin.generate(**body)
    check(twin, "POST /key/generate", real, simulated)
    real_info, sim_info = twin.both("GET", "/key/info", params={"key": real.body["token"]})
    check(twin, "GET /key/info", real_info, sim_info)
    check_times(real_info.body["info"], sim_info.body["info"])
    assert real_info.body["info"]["budget_duration"] == budget_duration
    assert real_info.body["info"]["budget_reset_at"] is not None
