"""A finish that arrives late (retried through a database outage) records nothing once recovery
has started its runs again: only the current attempt's outcome counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.outcome import Outcome
from app.services.attempts import Answer, finish_batch, start_batch
from app.services.dispatch import dispatch_once
from app.services.schedules import ScheduleService
from db.types import Conn

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
OK = Outcome("succeeded", 200, None, "run-1", None, 12)
FAILED = Outcome("failed", 400, "HTTP 400: no", None, None, 3)


async def test_a_late_finish_of_an_earlier_attempt_is_ignored(conn: Conn) -> None:
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * * *", "overlap_policy": "allow_all"}
    )
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=2))
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = %s", (schedule.id,)
    )
    ids = [r["id"] for r in await cursor.fetchall()]
    [first] = await start_batch(conn, ids)
    # The worker looked dead (its database was away); recovery ran the batch job again.
    [second] = await start_batch(conn, ids)
    assert (first.attempt, second.attempt) == (1, 2)

    # The first worker's finish finally gets through: it changes nothing.
    await finish_batch(conn, [Answer(first, FAILED)])
    row = await (
        await conn.execute(
            "SELECT status, attempts, http_status FROM workflow_schedule_executions WHERE id = %s",
            (ids[0],),
        )
    ).fetchone()
    assert row == {"status": "running", "attempts": 2, "http_status": None}

    await finish_batch(conn, [Answer(second, OK)])
    row = await (
        await conn.execute(
            "SELECT status, attempts, http_status, workflow_run_id "
            "FROM workflow_schedule_executions WHERE id = %s",
            (ids[0],),
        )
    ).fetchone()
    assert row == {
        "status": "succeeded",
        "attempts": 2,
        "http_status": 200,
        "workflow_run_id": "run-1",
    }
