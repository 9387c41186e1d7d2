"""The simulator's keys and usage kept in a JSON file across restarts (``--state-file``), so the
portal's rows made against it stay valid when ``scripts/run`` starts again.

Only data is kept (live and deleted keys, usage rows); faults, switches and the call log start
fresh every time. The file is rewritten after every request that changed something, through a
temporary file and a rename, so a stop at any moment leaves the previous or the new copy.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from flask import Flask, Response, request

from .state import SimState

FORMAT = 1


def save(state: SimState, path: Path) -> None:
    """Write ``state``'s keys and usage to ``path`` (usage still held back by the batch-write
    delay is written as already recorded)."""
    with state.lock:
        data = {
            "format": FORMAT,
            "keys": state.keys,
            "deleted": state.deleted,
            "rows": state.rows + [row for _due, row in state.pending],
        }
        text = json.dumps(data, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def load(state: SimState, path: Path) -> bool:
    """Replace ``state``'s keys and usage with the file's; False when there is no file yet."""
    if not path.exists():
        return False
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a simulator state file of format {FORMAT}")
    with state.lock:
        state.keys.clear()
        state.keys.update(data["keys"])
        state.deleted.clear()
        state.deleted.update(data["deleted"])
        state.rows[:] = data["rows"]
        state.rows_generation += 1
        state.pending.clear()
        state._ids = itertools.count(max((r["id"] for r in state.rows), default=0) + 1)
    return True


def save_after_changes(app: Flask, path: Path) -> None:
    """Rewrite ``path`` after every request that may have changed keys or usage."""
    state: SimState = app.extensions["litellm_sim"]

    @app.after_request
    def _save(response: Response) -> Response:
        if request.method != "GET" and response.status_code < 400:
            save(state, path)
        return response
