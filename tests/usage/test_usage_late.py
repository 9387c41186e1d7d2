"""Usage that LiteLLM records late: the portal must not keep its early, empty answer as final.

A real LiteLLM writes usage and spend in batches 10–20 s after a request, so a view right after
a request sees nothing yet. The simulator's batch-write delay reproduces that without a proxy.
"""

from __future__ import annotations

import time

from usage_helpers import TODAY

# LiteLLM writes within ~20 s; a view this long after the usage was written must show it,
# without the user pressing "Refresh now".
LATE_USAGE_WITHIN = 30.0
BATCH_WRITE_DELAY = 2.0


def test_usage_written_late_appears_without_a_refresh(client, make_user, make_key, sim, sign_in):
    user = make_user("late@example.com")
    key = make_key(user, "laptop")
    sign_in(user.email)
    sim.set_batch_write_delay(BATCH_WRITE_DELAY)
    sim.add_usage(token=key.token, date=TODAY, model="gpt-4o", provider="openai",
                  prompt_tokens=1200, completion_tokens=300, spend=1.25)  # fmt: skip

    first = client.get("/usage").get_data(as_text=True)
    assert "$1.25" not in first  # LiteLLM has not written it yet

    written_at = time.monotonic() + BATCH_WRITE_DELAY
    deadline = written_at + LATE_USAGE_WITHIN
    html = first
    while "$1.25" not in html and time.monotonic() < deadline:
        time.sleep(1)
        html = client.get("/usage").get_data(as_text=True)
    assert "$1.25" in html, (
        f"usage LiteLLM wrote {BATCH_WRITE_DELAY:.0f}s after the request was still missing "
        f"{LATE_USAGE_WITHIN:.0f}s later: the portal kept the early empty answer as if final"
    )
