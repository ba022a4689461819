"""Runs known by id are found in whichever partition holds their slot: first near now (one or
two partitions read), then anywhere (a backfill of an old slot, a retry days later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.history_partitions import PartitionPolicy
from app.services import history_partitions as history
from app.services.schedules import ScheduleService
from db.repositories import executions as repo
from db.types import Conn

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


async def test_start_and_finish_find_runs_near_and_far(conn: Conn) -> None:
    await history.ensure_ahead(conn, NOW, PartitionPolicy(timedelta(days=1), ahead=1), 5.0)
    await history.ensure_ahead(conn, NOW - timedelta(days=90), PartitionPolicy(), 5.0)
    schedule = await ScheduleService(conn, "acme").create(
        {"workflow_id": "wf", "cron_expression": "0 6 * * *"}
    )
    slots = {"near": NOW, "far": NOW - timedelta(days=90), "nowhere": NOW - timedelta(days=400)}
    ids = {}
    for name, slot in slots.items():
        cursor = await conn.execute(
            "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant,"
            " scheduled_at, fire_at) VALUES (%s, 'wf', 'acme', %s, %s) RETURNING id",
            (schedule.id, slot, slot),
        )
        row = await cursor.fetchone()
        assert row is not None
        ids[name] = row["id"]

    found = await repo.keys(conn, list(ids.values()), NOW)
    assert found == {ids[n]: slots[n] for n in slots}
    started = await repo.start_attempts(conn, found, NOW)
    assert {a.execution_id for a in started} == set(ids.values())
    outcomes = [
        repo.AttemptOutcome(
            id=a.execution_id,
            # The executor passes the slot; a caller without it still finds the run.
            scheduled_at=a.scheduled_at if a.execution_id == ids["near"] else None,
            status="succeeded",
            http_status=200,
            error=None,
            workflow_run_id=None,
            duration_ms=5,
            retry_delay_seconds=None,
            attempt=1,
            answered_at=NOW,
            completion_timeout=3600,
        )
        for a in started
    ]
    finished = await repo.finish_many(conn, outcomes)
    assert {r.id for r in finished} == set(ids.values())
    assert {r.status for r in finished} == {"succeeded"}
