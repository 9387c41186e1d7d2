"""Usage end to end against a real LiteLLM proxy: requests sent with keys made in the portal,
counted by LiteLLM's batch writer, then shown by /usage, both exports and /keys exactly as
LiteLLM's own daily activity reports them. Runs against each proxy: 1.75.0 has no
``/aggregated``, so the portal takes its paginated path there."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict

import pytest
from portal_support import secret_in
from proxy_support import token_of, unique_email, wait_for

from app.services.money import format_money

pytestmark = pytest.mark.each_real_proxy


def _range() -> tuple[str, str]:
    """Yesterday and today (UTC): requests sent just before midnight still fall inside."""
    today = dt.datetime.now(dt.UTC).date()
    return (today - dt.timedelta(days=1)).isoformat(), today.isoformat()


def _breakdown(rows: list[dict], part: str) -> dict[str, dict[str, float]]:
    """LiteLLM's per-model or per-provider spend and requests summed over its daily rows."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"spend": 0.0, "api_requests": 0})
    for row in rows:
        for name, entry in row["breakdown"][part].items():
            out[name]["spend"] += entry["metrics"]["spend"]
            out[name]["api_requests"] += entry["metrics"]["api_requests"]
    return dict(out)


def _by_name(entries: list[dict], field: str) -> dict[str, dict[str, float]]:
    return {e[field]: {"spend": e["spend"], "api_requests": e["api_requests"]} for e in entries}


def _approx(metrics: dict) -> dict:
    return {name: pytest.approx(value, rel=1e-9, abs=1e-12) for name, value in metrics.items()}


def test_usage_pages_and_exports_show_litellms_numbers(real_proxy, portal):
    user = portal.user(unique_email("usage"))
    alpha = secret_in(user.create_key("alpha", max_budget="50"))
    beta = secret_in(user.create_key("beta", max_budget="50"))
    for secret, model in ((alpha, "mock-gpt"), (alpha, "mock-gpt"), (alpha, "mock-claude")):
        assert real_proxy.chat(secret, model, "count these tokens").status_code == 200
    assert real_proxy.chat(beta, "mock-gpt", "hi").status_code == 200
    start, end = _range()
    alpha_rows = real_proxy.wait_for_requests(token_of(alpha), start, end, 3)
    real_proxy.wait_for_requests(token_of(beta), start, end, 1)

    # LiteLLM's own answers, queried directly.
    litellm_alpha = real_proxy.activity_totals(start, end, api_key=token_of(alpha))
    litellm_beta = real_proxy.activity_totals(start, end, api_key=token_of(beta))
    litellm_mine = {m: litellm_alpha[m] + litellm_beta[m] for m in litellm_alpha}
    assert litellm_alpha["api_requests"] == 3 and litellm_alpha["spend"] > 0.1
    assert litellm_mine["api_requests"] == 4
    if real_proxy.filters_activity_by_user:
        assert real_proxy.activity_totals(start, end, user_id=user.email) == _approx(litellm_mine)

    alpha_id = user.key_id("alpha")
    one_key = user.export_json(alpha_id, start, end)
    assert one_key["totals"] == _approx(litellm_alpha)
    assert _by_name(one_key["models"], "model") == _approx_nested(_breakdown(alpha_rows, "models"))
    assert _by_name(one_key["providers"], "provider") == _approx_nested(
        _breakdown(alpha_rows, "providers")
    )

    everything = user.export_json("all", start, end)
    assert everything["totals"] == _approx(litellm_mine)
    per_key = {k["name"]: {m: k[m] for m in litellm_alpha} for k in everything["keys"]}
    assert per_key == {"alpha": _approx(litellm_alpha), "beta": _approx(litellm_beta)}

    days = list(csv.DictReader(io.StringIO(user.export_csv(alpha_id, start, end))))
    assert sum(float(d["spend"]) for d in days) == pytest.approx(litellm_alpha["spend"])
    assert sum(int(d["api_requests"]) for d in days) == 3
    assert sum(int(d["total_tokens"]) for d in days) == litellm_alpha["total_tokens"]

    page = user.get("/usage", key=alpha_id, start_date=start, end_date=end)
    assert page.status_code == 200, page.text
    summary = page.text.split('id="usage-summary"', 1)[1].split("</div>\n</div>", 1)[0]
    assert format_money(litellm_alpha["spend"]) in summary
    assert f"{litellm_alpha['total_tokens']:,}" in summary
    assert "3 successful · 0 failed" in summary
    all_page = user.get("/usage", key="all", start_date=start, end_date=end)
    assert format_money(litellm_mine["spend"]) in all_page.text

    # The portal used /aggregated where the proxy has it, the paginated endpoint elsewhere.
    answered = _litellm_routes(portal, 200)
    if real_proxy.has_aggregated:
        assert "/user/daily/activity/aggregated" in answered
    else:
        assert "/user/daily/activity" in answered
        assert "/user/daily/activity/aggregated" in _litellm_routes(portal, 404)
        assert "/user/daily/activity/aggregated" not in answered

    # /keys shows LiteLLM's spend of each key (written by the same batch job as the usage).
    spend = wait_for(
        lambda: real_proxy.key_info(alpha)["spend"],
        lambda value: value == pytest.approx(litellm_alpha["spend"]),
        "alpha's spend in /key/info",
        60,
    )
    assert f"${spend:.2f}" in user.key_row("alpha")


def _litellm_routes(portal, status: int) -> set[str]:
    """Routes of the portal's LiteLLM calls (its JSON log lines) that answered ``status``."""
    lines = [json.loads(x) for x in portal.instance.log_text().splitlines() if x.startswith("{")]
    return {
        x["route"] for x in lines if x.get("logger") == "app.litellm" and x.get("status") == status
    }


def _approx_nested(table: dict[str, dict[str, float]]) -> dict:
    return {name: _approx(metrics) for name, metrics in table.items()}


def test_two_users_usage_never_mixes(real_proxy, portal):
    ann, ben = portal.user(unique_email("usage")), portal.user(unique_email("usage"))
    ann_secret = secret_in(ann.create_key("work", max_budget="20"))
    ben_secret = secret_in(ben.create_key("work", max_budget="20"))
    for _ in range(2):
        answer = real_proxy.chat(ann_secret, "mock-gpt")
        assert answer.status_code == 200, answer.text
    assert real_proxy.chat(ben_secret, "mock-claude").status_code == 200
    start, end = _range()
    real_proxy.wait_for_requests(token_of(ann_secret), start, end, 2)
    real_proxy.wait_for_requests(token_of(ben_secret), start, end, 1)

    for person, secret, requests_made, model in (
        (ann, ann_secret, 2, "mock-gpt"),
        (ben, ben_secret, 1, "mock-claude"),
    ):
        mine = person.export_json("all", start, end)
        assert mine["totals"] == _approx(
            real_proxy.activity_totals(start, end, api_key=token_of(secret))
        )
        assert mine["totals"]["api_requests"] == requests_made
        assert [k["name"] for k in mine["keys"]] == ["work"]
        assert [m["model"] for m in mine["models"]] == [
            name for name in _model_names(real_proxy, secret, start, end) if model in name
        ]
        assert len(mine["models"]) == 1
        by_user = real_proxy.activity_totals(start, end, user_id=person.email)
        if real_proxy.filters_activity_by_user:
            assert by_user == _approx(mine["totals"])
        else:
            # LiteLLM answers with every user's usage; the portal still counts only this user's.
            assert by_user["api_requests"] >= 3

    # Ben's key is not Ann's to look at, by page or by export.
    ben_key = ben.key_id("work")
    assert ann.get("/usage", key=ben_key).status_code == 404
    assert ann.get("/usage/export.json", key=ben_key).status_code == 404


def _model_names(real_proxy, secret: str, start: str, end: str) -> list[str]:
    rows = real_proxy.daily_activity(start, end, api_key=token_of(secret))
    return sorted({name for row in rows for name in row["breakdown"]["models"]})
