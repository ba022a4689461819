"""Overlap policies against a target slower than the schedule (SPEC §4.4)."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from tests.support.db import create_schedule, executions
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess


def _count(database_url: str, sql: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {str(k): int(v) for k, v in conn.execute(sql).fetchall()}  # type: ignore[arg-type]


def test_overlap_policies_with_a_slow_target(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    for workflow in ("skip", "buffer_one", "allow_all"):
        target.set_delay(workflow, 3.0)
    start_worker()
    schedules = {
        policy: create_schedule(
            database_url,
            workflow_id=policy,
            cron_expression="* * * * * *",
            overlap_policy=policy,
        )
        for policy in ("skip", "buffer_one", "allow_all")
    }
    most_waiting = 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        waiting = _count(
            database_url,
            "SELECT workflow_id, count(*) FROM workflow_schedule_executions "
            "WHERE status = 'pending' AND buffered GROUP BY workflow_id",
        )
        most_waiting = max(most_waiting, waiting.get("buffer_one", 0))
        time.sleep(0.1)

    skip_rows = executions(database_url, schedules["skip"].id)
    assert any(r["status"] == "skipped" and "overlap" in r["error"] for r in skip_rows)
    assert max(_in_flight(target, "skip"), default=0) == 1

    assert most_waiting == 1, "buffer_one never holds more than one waiting run"
    buffered_rows = executions(database_url, schedules["buffer_one"].id)
    assert any(r["status"] == "skipped" for r in buffered_rows)
    assert max(_in_flight(target, "buffer_one"), default=0) == 1

    assert max(_in_flight(target, "allow_all"), default=0) >= 2, "allow_all overlaps"
    assert not any(
        r["status"] == "skipped" for r in executions(database_url, schedules["allow_all"].id)
    )


def _in_flight(target: RecordingTarget, workflow: str) -> list[int]:
    """How many requests of `workflow` were in flight when each one arrived (3 s each)."""
    arrivals = [r.at for r in target.requests(workflow)]
    return [sum(1 for other in arrivals if other <= at < other + 2.9) for at in arrivals]
