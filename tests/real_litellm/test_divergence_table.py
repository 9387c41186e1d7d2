"""The comparison the differential tests rely on: what it reports and what the table excuses.
(No proxy needed.)"""

from __future__ import annotations

import divergences
import pytest
from divergences import Divergence, compare, differences, normalize


def test_differences_by_path_with_numbers_and_absent_fields():
    real = {"a": {"b": [1, 2.0], "c": "x"}, "n": 0.1 + 0.2, "flag": True}
    sim = {"a": {"b": [1.0, 3], "d": None}, "n": 0.3, "flag": 1}
    assert differences(real, sim) == [
        ("a.b[1]", 2.0, 3), ("a.c", "x", "<absent>"), ("a.d", "<absent>", None),
        ("flag", True, 1)]  # fmt: skip


def test_timestamps_and_ids_compare_by_form_only():
    real = {"at": "2026-12-01T00:36:35.887000Z", "info_at": "2026-12-01T00:36:35+00:00",
            "id": "f98a089d-d0dc-46bc-ba50-995b0a6c1112"}  # fmt: skip
    sim = {"at": "2026-11-01T09:00:00Z", "info_at": "2026-12-01T00:36:35Z",
           "id": "0b6f0d1e-0000-4000-8000-000000000000"}  # fmt: skip
    assert differences(normalize(real), normalize(sim)) == [
        ("info_at", "<datetime +00:00>", "<datetime Z>")]  # fmt: skip


def test_compare_fails_on_unlisted_and_on_vanished_always_entries(monkeypatch):
    with pytest.raises(AssertionError, match="simulator differs at x"):
        compare("GET /thing", "1.108.7", {"x": 1}, {"x": 2})
    entry = Divergence("GET /thing", "x", "reason", versions="1.108.*", always=True)
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", (entry,))
    compare("GET /thing", "1.108.7", {"x": 1}, {"x": 2})  # excused
    with pytest.raises(AssertionError, match="simulator differs"):
        compare("GET /thing", "1.75.0", {"x": 1}, {"x": 2})  # other release: not excused
    with pytest.raises(AssertionError, match="no longer occurs"):
        compare("GET /thing", "1.108.7", {"x": 1}, {"x": 1})
