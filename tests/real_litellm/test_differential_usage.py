"""Differential contract tests, usage: daily activity of the same keys and the same usage asked of
a real LiteLLM proxy and of the simulator imitating its release.

The usage is real: chat completions against the proxy's mock models, written by LiteLLM's batch
writer. The simulator gets the same keys (same secrets, so the same token hashes) and the same
raw daily-spend rows. Runs against every configured proxy, 1.75.0 included (no /aggregated there,
and no user_id filter on the paginated endpoint before 1.83).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from divergences import compare
from proxy_support import unique_name
from sim_pair import Reply, Twin, start_twin

from app.litellm_sim.versions import supports

pytestmark = pytest.mark.each_real_proxy

TODAY = datetime.now(UTC).date()
DAY = TODAY.isoformat()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
PAGED = "/user/daily/activity"
AGGREGATED = "/user/daily/activity/aggregated"
# key label -> (owner index, models it is used with, in order)
TRAFFIC = {
    "laptop": (0, ("mock-gpt", "mock-gpt", "mock-claude")),
    "ci": (0, ("mock-gpt",)),
    "other": (1, ("mock-claude",)),
}


@pytest.fixture(scope="module")
def traffic(real_proxy):
    """Two users, three keys, chat completions through the real proxy, waited for until LiteLLM
    has written them; returns ``{"users": [...], "keys": {label: generate answer}}``."""
    users = [unique_name("diff-usage-a"), unique_name("diff-usage-b")]
    keys = {}
    for label, (owner, models) in TRAFFIC.items():
        user = users[owner]
        key = real_proxy.generate_key(key_alias=f"{user}--{label}", user_id=user, max_budget=5.0)
        keys[label] = key
        for model in models:
            response = real_proxy.chat(key["key"], model=model)
            assert response.status_code == 200, response.text
    for label, (_, models) in TRAFFIC.items():
        real_proxy.wait_for_requests(keys[label]["token"], DAY, DAY, len(models))
    return {"users": users, "keys": keys}


@pytest.fixture
def twin(real_proxy, traffic):
    """The simulator twin holding the same keys and raw usage rows as the real proxy."""
    for pair in start_twin(real_proxy):
        for label, key in traffic["keys"].items():
            user = traffic["users"][TRAFFIC[label][0]]
            pair.state.add_key(key_alias=key["key_alias"], user_id=user, secret=key["key"],
                               max_budget=5.0)  # fmt: skip
            assert pair.mirror_usage(key["token"], DAY) >= 1
        yield pair


def check(twin: Twin, case: str, real: Reply, simulated: Reply) -> None:
    assert real.status == simulated.status, (
        f"{case}: real {real.status} {real.body!r} / simulator {simulated.status} "
        f"{simulated.body!r}"
    )
    compare(case, twin.proxy.version, real.body, simulated.body)


def _supports(twin: Twin, feature: str) -> bool:
    return supports(twin.proxy.version, feature)


def _token(traffic, label: str) -> str:
    return traffic["keys"][label]["token"]


def test_one_page_with_every_row_agrees(twin, traffic):
    for label in TRAFFIC:
        params = {"start_date": DAY, "end_date": DAY, "api_key": _token(traffic, label),
                  "page_size": 1000}  # fmt: skip
        real, simulated = twin.both("GET", PAGED, params=params)
        check(twin, "activity all rows", real, simulated)
        assert real.body["results"], "the real proxy reported no usage"


def _pages(twin: Twin, which: int, params: dict) -> list[Reply]:
    pages, page = [], 1
    while True:
        reply = twin.both("GET", PAGED, params={**params, "page": page})[which]
        assert reply.status == 200, reply.body
        pages.append(reply)
        if not reply.body["metadata"]["has_more"]:
            return pages
        page += 1


def _merged_totals(pages: list[Reply]) -> dict:
    totals: dict = {}
    for reply in pages:
        for name, value in reply.body["metadata"].items():
            if name.startswith("total_") and isinstance(value, int | float):
                totals[name] = totals.get(name, 0) + value
    return totals


@pytest.mark.parametrize("page_size", [1, 2])
def test_row_pages_agree_in_count_paging_and_totals(twin, traffic, page_size):
    params = {"start_date": YESTERDAY, "end_date": TOMORROW,
              "api_key": _token(traffic, "laptop"), "page_size": page_size}  # fmt: skip
    real_pages, sim_pages = _pages(twin, 0, params), _pages(twin, 1, params)
    rows = len(set(TRAFFIC["laptop"][1]))  # one raw row per model the key used that day
    assert len(real_pages) == len(sim_pages) == math.ceil(rows / page_size)
    for number, (real, simulated) in enumerate(zip(real_pages, sim_pages, strict=True), 1):
        check(twin, f"activity page {number}", real, simulated)
    assert _merged_totals(real_pages) == pytest.approx(_merged_totals(sim_pages))


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("today only", {"start_date": DAY, "end_date": DAY}),
        ("yesterday only: nothing", {"start_date": YESTERDAY, "end_date": YESTERDAY}),
        ("tomorrow only: nothing", {"start_date": TOMORROW, "end_date": TOMORROW}),
        ("around today", {"start_date": YESTERDAY, "end_date": TOMORROW}),
        ("model filter", {"start_date": DAY, "end_date": DAY, "model": "{model}"}),
        ("unknown model", {"start_date": DAY, "end_date": DAY, "model": "no-such-model"}),
        ("raw secret as api_key", {"start_date": DAY, "end_date": DAY, "api_key": "{secret}"}),
    ],
)
def test_ranges_and_filters_agree(twin, traffic, case, params):
    token = _token(traffic, "laptop")
    model = twin.state.rows[0]["model"]  # as LiteLLM recorded it
    values = {"model": model, "secret": traffic["keys"]["laptop"]["key"]}
    params = {k: v.format(**values) for k, v in params.items()}
    params.setdefault("api_key", token)
    real, simulated = twin.both("GET", PAGED, params={**params, "page_size": 1000})
    check(twin, f"activity {case}", real, simulated)
    if _supports(twin, "aggregated"):
        real, simulated = twin.both("GET", AGGREGATED, params=params)
        check(twin, f"aggregated {case}", real, simulated)


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("missing dates", {}),
        ("missing end", {"start_date": DAY}),
        ("start after end", {"start_date": TOMORROW, "end_date": DAY}),
        ("not a date", {"start_date": "2026-9-1", "end_date": DAY}),
        ("page size too big", {"start_date": DAY, "end_date": DAY, "page_size": 1001}),
        ("page zero", {"start_date": DAY, "end_date": DAY, "page": 0}),
        ("page size not a number", {"start_date": DAY, "end_date": DAY, "page_size": "ten"}),
    ],
)
def test_bad_parameters_agree(twin, case, params):
    real, simulated = twin.both("GET", PAGED, params=params)
    check(twin, f"activity {case}", real, simulated)
    if case in ("start after end", "not a date") and not _supports(twin, "strict_dates"):
        assert real.status == 200 and real.body["results"] == []  # compared as strings
    else:
        assert real.status >= 400


def test_user_filter_agrees_with_the_release(twin, traffic):
    """Before 1.83 an admin's ?user_id= is ignored: both sides then return other users too."""
    alice, bob = traffic["users"]
    params = {"start_date": DAY, "end_date": DAY, "user_id": alice, "page_size": 1000}
    real, simulated = twin.both("GET", PAGED, params=params)
    assert real.status == simulated.status == 200
    real_owners = {e for d in real.body["results"] for e in d["breakdown"]["entities"]}
    sim_owners = {e for d in simulated.body["results"] for e in d["breakdown"]["entities"]}
    if _supports(twin, "user_filter"):
        check(twin, "activity user filter", real, simulated)
        assert real_owners == {alice}
    else:
        assert {alice, bob} <= real_owners and sim_owners == {alice, bob}


def test_aggregated_agrees_or_is_missing_on_both(twin, traffic):
    alice, _ = traffic["users"]
    params = {"start_date": YESTERDAY, "end_date": TOMORROW}
    if not _supports(twin, "aggregated"):
        real, simulated = twin.both("GET", AGGREGATED, params=params)
        check(twin, "aggregated missing", real, simulated)
        assert real.status == 404
        return
    for case, extra in (("user", {"user_id": alice}),
                        ("user, one key", {"user_id": alice, "api_key_limit": 1}),
                        ("key", {"api_key": _token(traffic, "ci")})):  # fmt: skip
        real, simulated = twin.both("GET", AGGREGATED, params={**params, **extra})
        check(twin, f"aggregated {case}", real, simulated)
        assert real.status == 200 and real.body["results"]
    for case, extra in (("limit zero", {"api_key_limit": 0}), ("missing end", {"end_date": None})):
        real, simulated = twin.both("GET", AGGREGATED, params={**params, **extra})
        check(twin, f"aggregated {case}", real, simulated)
        assert real.status >= 400
