"""The unfinished floor (migration 0010): no unfinished run's slot is ever older than it, so the
dispatcher's overlap questions may skip the partitions below it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.services import history_partitions as history
from app.services.schedules import ScheduleService
from db.repositories import schedules
from db.types import Conn

T = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
INSERT = (
    "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, scheduled_at,"
    " status) VALUES (%s, 'wf', 'acme', %s, %s) RETURNING id"
)


async def _floor(conn: Conn) -> datetime | None:
    cursor = await conn.execute(
        "SELECT nullif(at, 'infinity') AS at FROM workflow_history_unfinished_floor"
    )
    row = await cursor.fetchone()
    assert row is not None
    return row["at"]  # type: ignore[no-any-return]


async def _insert(conn: Conn, slot: datetime, status: str, trigger: UUID | None = None) -> UUID:
    cursor = await conn.execute(INSERT, (trigger or UUID(int=1), slot, status))
    row = await cursor.fetchone()
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


async def test_inserts_lower_it_a_raise_follows_the_oldest_unfinished(conn: Conn) -> None:
    assert await _floor(conn) is None  # nothing unfinished: 'infinity'
    await _insert(conn, T, "pending")
    old = await _insert(conn, T - timedelta(days=10), "running")
    await _insert(conn, T - timedelta(days=20), "succeeded")  # finished: no bound
    assert await _floor(conn) == T - timedelta(days=10)
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'failed' WHERE id = %s", (old,)
    )
    assert await history.raise_floor(conn, 1.0) == (True, T)
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'pending' WHERE id = %s", (old,)
    )
    assert await _floor(conn) == T - timedelta(days=10), "a run made unfinished again"
    await conn.execute("UPDATE workflow_schedule_executions SET status = 'cancelled'")
    assert await history.raise_floor(conn, 1.0) == (True, None)


async def test_a_raise_waits_for_a_writer_whose_run_it_cannot_see_yet(
    conn: Conn, database_url: str
) -> None:
    await _insert(conn, T - timedelta(days=5), "pending")
    await _insert(conn, T, "pending")
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'succeeded' WHERE scheduled_at < %s",
        (T,),
    )  # the floor stays 5 days back until raised
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as writer:
        await _insert(writer, T - timedelta(days=1), "pending")  # not committed
        assert await history.raise_floor(conn, 0.2) == (False, None)
        await writer.commit()
    assert await history.raise_floor(conn, 1.0) == (True, T - timedelta(days=1))


async def test_the_claim_counts_an_unfinished_run_far_in_the_past(conn: Conn) -> None:
    schedule = await ScheduleService(conn, "acme", clock=lambda: T).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *", "overlap_policy": "skip"}
    )
    await _insert(conn, T - timedelta(days=200), "running", schedule.id)  # a backfill
    assert await history.raise_floor(conn, 1.0) == (True, T - timedelta(days=200))
    # Ahead of its next instant (T + 1 min) it is not taken: the run is unfinished.
    ahead = T + timedelta(seconds=59.5)
    assert await schedules.claim_due(conn, 10, now=ahead, lookahead=1.0) == []
    claimed = await schedules.claim_due(conn, 10, now=T + timedelta(minutes=5))
    assert [(c.schedule.id, c.active_runs) for c in claimed] == [(schedule.id, 1)]
