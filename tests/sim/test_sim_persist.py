"""``flask litellm-sim --state-file``: keys and usage survive a restart of the simulator."""

from __future__ import annotations

from app.litellm_sim import create_sim_app, persist

MASTER = "sk-sim-master-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER}"}


def _sim(path):
    app = create_sim_app(master_key=MASTER, seed="demo")
    persist.save_after_changes(app, path)
    return app


def test_keys_and_usage_made_through_the_api_come_back_after_a_restart(tmp_path):
    path = tmp_path / "sim.json"
    first = _sim(path)
    client = first.test_client()
    made = client.post("/key/generate", json={"key_alias": "u--kept", "user_id": "u"}, headers=AUTH)
    assert made.status_code == 200
    token = made.get_json()["token"]
    gone = client.post("/key/generate", json={"key_alias": "u--gone"}, headers=AUTH).get_json()
    assert client.post("/key/delete", json={"keys": [gone["token"]]}, headers=AUTH).status_code
    usage = client.post(
        "/_sim/usage",
        json={
            "token": token,
            "date": "2025-01-02",
            "model": "gpt-4o",
            "provider": "openai",
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "spend": 1.5,
        },
        headers=AUTH,
    )
    assert usage.status_code == 200
    before = first.extensions["litellm_sim"]
    assert path.exists()

    second = create_sim_app(master_key=MASTER, seed=None)
    assert persist.load(second.extensions["litellm_sim"], path) is True
    after = second.extensions["litellm_sim"]
    assert after.keys == before.keys and token in after.keys
    assert gone["token"] in after.deleted and gone["token"] not in after.keys
    assert after.rows == before.rows
    # Rows added after the restart continue the ids instead of repeating them.
    new = after.add_usage(
        token=token,
        date="2025-01-03",
        model="gpt-4o",
        provider="openai",
        prompt_tokens=1,
        completion_tokens=1,
        spend=0.5,
    )
    assert new["id"] > max(r["id"] for r in before.rows)


def test_nothing_is_written_for_reads_or_refused_changes(tmp_path):
    path = tmp_path / "sim.json"
    client = _sim(path).test_client()
    assert client.get("/key/list", headers=AUTH).status_code == 200
    assert client.post("/key/generate", json={"key_alias": "x"}).status_code == 401
    assert not path.exists()


def test_no_file_means_nothing_to_load(tmp_path):
    state = create_sim_app(master_key=MASTER, seed=None).extensions["litellm_sim"]
    assert persist.load(state, tmp_path / "missing.json") is False
    assert state.keys == {}
