"""The firing engine end to end: a real worker process fires a real schedule to a real target."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg

from app.domain.webhook import verify_signature
from tests.support.db import create_schedule, executions, wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import TEST_SECRET, WorkerProcess


def test_every_second_schedule_fires_each_slot_once(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    schedule = create_schedule(database_url, workflow_id="tick", cron_expression="* * * * * *")
    got = target.wait_for(lambda r: len(r) >= 5, timeout=20)
    slots = [datetime.fromisoformat(r.json()["scheduledAt"]) for r in got[:5]]
    assert all(s.microsecond == 0 for s in slots)
    seconds = [int(s.timestamp()) for s in slots]
    assert seconds == list(range(seconds[0], seconds[0] + 5)), "consecutive whole seconds"
    keys = [r.headers["idempotency-key"] for r in got]
    assert len(keys) == len(set(keys))
    for request in got:
        assert verify_signature(
            TEST_SECRET, request.headers, request.body, now=int(request.at), tolerance_seconds=30
        )
        assert request.headers["authorization"] == f"Bearer {TEST_SECRET}"
        assert request.json()["triggerId"] == str(schedule.id)
    rows = wait_until(
        lambda: [e for e in executions(database_url, schedule.id) if e["status"] == "succeeded"],
        10,
        "succeeded rows",
    )
    assert rows[0]["attempts"] == 1 and rows[0]["http_status"] == 200
    assert rows[0]["workflow_run_id"]
    # Its first health report took its seat in the fleet, so its dispatcher inserts its runs
    # started (docs/architecture.md): a run `running` before its instant is still the row
    # that transaction wrote along with its job, not a second version for a start under the
    # per-tenant lock (the default cap is on).
    assert '"event": "health.fleet_seat_taken"' in worker.log_path.read_text()
    started_at_dispatch = wait_until(lambda: _running_as_dispatched(database_url), 20, "a run")
    assert all(started_at_dispatch)


def _running_as_dispatched(database_url: str) -> list[bool]:
    """For each run `running` now: whether its row is the version that inserted its job."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.xmin::text = j.xmin::text FROM workflow_schedule_executions e "
            "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE e.status = 'running'"
        ).fetchall()
    return [bool(row[0]) for row in rows]
