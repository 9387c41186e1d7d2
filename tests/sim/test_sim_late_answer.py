"""The simulator's "timeout after the action took effect" fault, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from app.litellm_sim import create_sim_app, run_in_thread

MASTER = "sk-sim-master-0123456789"
HEADERS = {"Authorization": f"Bearer {MASTER}"}


@pytest.fixture
def http():
    """A fresh simulator over real HTTP; yields (server, state)."""
    app = create_sim_app(master_key=MASTER)
    server = run_in_thread(app)
    yield server, app.extensions["litellm_sim"]
    server.shutdown()


def test_late_answer_makes_the_key_but_the_caller_times_out(http):
    server, state = http
    control = requests.post(
        f"{server.base_url}/_sim/faults",
        json={"late_answer": {"path": "/key/generate", "seconds": 5}},
        headers=HEADERS,
        timeout=5,
    )
    assert control.status_code == 200
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{server.base_url}/key/generate",
            json={"key_alias": "late", "user_id": "u"},
            headers=HEADERS,
            timeout=(3, 0.3),
        )
    assert [k["key_alias"] for k in state.keys.values()] == ["late"]  # it took effect
    # Other routes answer at once; clearing faults lets held answers go.
    listed = requests.get(f"{server.base_url}/key/list", headers=HEADERS, timeout=2)
    assert listed.status_code == 200
    state.clear_faults()
    answered = requests.post(
        f"{server.base_url}/key/generate",
        json={"key_alias": "prompt", "user_id": "u"},
        headers=HEADERS,
        timeout=2,
    )
    assert answered.status_code == 200
