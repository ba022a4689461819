"""`make up` (devtools/up.py) runs one worker per core unless SCHEDULER_WORKERS says otherwise
(issue 13)."""

from __future__ import annotations

import os

import pytest

from devtools.up import _children, worker_count


def test_one_worker_per_core_by_default() -> None:
    assert worker_count({}) == max(1, os.cpu_count() or 1)
    names = [child.name for child in _children({})]
    assert names.count("api") == 1
    assert len([n for n in names if n.startswith("worker")]) == worker_count({})


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3), (" 2 ", 2)])
def test_scheduler_workers_chooses(value: str, expected: int) -> None:
    assert worker_count({"SCHEDULER_WORKERS": value}) == expected
    workers = [c for c in _children({"SCHEDULER_WORKERS": value}) if c.name.startswith("worker")]
    assert len(workers) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "65", "1.5"])
def test_a_bad_worker_count_stops_with_the_variables_name(value: str) -> None:
    with pytest.raises(SystemExit, match="SCHEDULER_WORKERS"):
        worker_count({"SCHEDULER_WORKERS": value})
