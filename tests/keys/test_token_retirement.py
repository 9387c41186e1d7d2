"""Old secrets are deleted when their grace ends, without a person: by the next request that
touches the key and by ``flask retire-tokens`` (once each, also with two runs at once)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from test_rotation import SEEN_RE, audit_actions, lineage

from app.extensions import db
from app.models import ApiKey, ApiKeyToken, AuditEvent, utcnow
from app.services.token_retirement import retire_due

HX = {"HX-Request": "true"}


@pytest.fixture
def rotated(app, client, alice, make_key, csrf_token, sim):
    """Alice's key "laptop" rotated with a 1 hour grace: (key, old token, new token)."""
    key = make_key(alice, "laptop")
    page = client.get(f"/keys/{key.id}/rotate").get_data(as_text=True)
    form = {"csrf_token": csrf_token(), "grace": "1h", "rotation_mark": SEEN_RE.search(page)[1]}
    assert client.post(f"/keys/{key.id}/rotate", data=form).status_code == 200
    with app.app_context():
        new_token = db.session.get(ApiKey, key.id).litellm_token_id
    return key, key.token, new_token


def end_grace(app, key_id: int) -> None:
    """Move the old token's grace end into the past."""
    with app.app_context():
        db.session.execute(
            sa.update(ApiKeyToken)
            .where(ApiKeyToken.api_key_id == key_id, ApiKeyToken.delete_after.is_not(None))
            .values(delete_after=utcnow() - dt.timedelta(seconds=1))
        )
        db.session.commit()


def test_the_command_keeps_the_old_secret_during_grace_and_deletes_it_after(
    app, runner, rotated, sim
):
    key, old, new = rotated
    result = runner.invoke(args=["retire-tokens", "--no-sweep"])
    assert result.exit_code == 0, result.output
    assert "0 old secret(s) deleted" in result.output
    assert old in sim.keys  # still in its grace period

    end_grace(app, key.id)
    result = runner.invoke(args=["retire-tokens", "--no-sweep"])
    assert result.exit_code == 0, result.output
    assert "1 old secret(s) deleted" in result.output
    assert old not in sim.keys and old in sim.deleted and new in sim.keys
    assert lineage(app, key.id)[0].deleted_at is not None
    assert audit_actions(app)[-1] == "key.token.delete"
    # A second run finds nothing to do.
    assert "0 old secret(s) deleted" in runner.invoke(args=["retire-tokens"]).output


def test_the_command_reports_a_failed_deletion_and_the_next_run_retries(app, runner, rotated, sim):
    key, old, _ = rotated
    end_grace(app, key.id)
    sim.set_fault("/key/delete", 503)
    result = runner.invoke(args=["retire-tokens", "--no-sweep"])
    assert result.exit_code == 1
    assert "1 failed" in result.output
    assert lineage(app, key.id)[0].deleted_at is None
    sim.clear_faults()
    assert runner.invoke(args=["retire-tokens", "--no-sweep"]).exit_code == 0
    assert old not in sim.keys


@pytest.mark.parametrize("path", ["/keys", "usage", "revoke"])
def test_the_next_request_touching_the_key_deletes_the_old_secret(
    app, client, rotated, csrf_token, sim, path
):
    key, old, new = rotated
    assert client.get("/keys").status_code == 200
    assert old in sim.keys  # grace not over: the list leaves it alone
    end_grace(app, key.id)
    if path == "/keys":
        client.get("/keys")
    elif path == "usage":
        client.get(f"/usage?key={key.id}", headers=HX)
    else:
        client.post(f"/keys/{key.id}/revoke", data={"csrf_token": csrf_token()})
    assert old not in sim.keys and old in sim.deleted


def test_the_help_tells_how_to_run_it_from_cron(runner):
    result = runner.invoke(args=["retire-tokens", "--help"])
    assert result.exit_code == 0
    assert "cron" in result.output and "*/5 * * * *" in result.output


@pytest.fixture
def shared_app(build_app, database_url, sim, tmp_path):
    """A portal whose database several connections really share (not in-memory SQLite)."""
    url = database_url if database_url.startswith("postgresql") else (
        f"sqlite:///{tmp_path / 'portal.sqlite'}"
    )  # fmt: skip
    return build_app(schema=True, SQLALCHEMY_DATABASE_URI=url)


def test_two_runs_at_once_delete_each_old_secret_once(shared_app, sim):
    from app.models import User

    tokens = []
    with shared_app.app_context():
        user = User(email="carol@example.com", litellm_user_id="carol@example.com")
        db.session.add(user)
        db.session.flush()
        past = utcnow() - dt.timedelta(minutes=5)
        for i in range(6):
            stored = sim.add_key(key_alias=f"old-{i}", user_id=user.litellm_user_id)
            key = ApiKey(user_id=user.id, alias=f"carol--k{i}", label=f"k{i}")
            db.session.add(key)
            db.session.flush()
            db.session.add(
                ApiKeyToken(
                    api_key_id=key.id, token_id=stored["token"], source="created",
                    became_current_at=past, retired_at=past, delete_after=past,
                )
            )  # fmt: skip
            tokens.append(stored["token"])
        db.session.commit()
        db.session.remove()
    sim.set_latency(30)  # both runs overlap while LiteLLM answers
    barrier = threading.Barrier(2)
    reports: list = [None, None]

    def run(index: int) -> None:
        with shared_app.app_context():
            try:
                barrier.wait(timeout=10)
                reports[index] = retire_due()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in reports)
    assert sum(len(r.deleted) for r in reports) == 6
    assert sim.count("/key/delete", "POST") == 6  # never twice for one token
    assert not set(tokens) & set(sim.keys)
    with shared_app.app_context():
        deletions = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "key.token.delete")
        )
        db.session.remove()
    assert deletions == 6
