"""The attempt lifecycle on an injected clock (issue 15): retries, orphan recovery, the
cancel of a deleted schedule's run, missed slots, the failure streak and the auto-pause are
decided by the real statements with `now` given, so their timing is tested without waiting
for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.outcome import Outcome
from app.services.attempts import (
    HELD_RUN_DELAY_AT_CAP,
    Answer,
    finish_batch,
    racing_starts,
    recover_orphans,
    start_batch,
)
from app.services.dispatch import dispatch_once
from app.services.executions import ExecutionService
from app.services.schedules import ScheduleService
from db.repositories import executions as executions_repo
from db.types import Conn
from tests.support.db import (
    advisory_lock_held,
    report_worker_processes,
    seat_lapses_before,
    seated_process,
    waits_for_an_advisory_lock,
)

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
UNAVAILABLE = Outcome("retry", 503, "HTTP 503", None, None, 4)
REFUSED = Outcome("failed", 400, "HTTP 400", None, None, 4)


async def _first_run(conn: Conn, **fields: Any) -> tuple[UUID, UUID]:
    """A schedule created just before T0, and its run of the slot at T0 (not started)."""
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *", **fields}
    )
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=2))
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = %s", (schedule.id,)
    )
    [row] = await cursor.fetchall()
    return schedule.id, row["id"]


async def _one(conn: Conn, sql: str, *params: Any) -> dict[str, Any]:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None
    return row


async def test_a_retry_waits_for_its_backoff_counted_from_the_finish(conn: Conn) -> None:
    _, run = await _first_run(conn, max_attempts=3, retry_backoff_seconds=60)
    [attempt] = await start_batch(conn, [run], now=T0)
    finished = T0 + timedelta(seconds=2)
    # No answer instant of its own: the finish's `now` is when the answer counts from.
    await finish_batch(conn, [Answer(attempt, UNAVAILABLE)], now=finished)
    row = await _one(
        conn, "SELECT status, next_attempt_at FROM workflow_schedule_executions WHERE id = %s", run
    )
    assert row["status"] == "retrying"
    due = row["next_attempt_at"]
    assert finished + timedelta(seconds=48) <= due <= finished + timedelta(seconds=72)  # ± 20 %
    assert await start_batch(conn, [run], now=due - timedelta(seconds=1)) == []
    [second] = await start_batch(conn, [run], now=due)
    assert (second.attempt, second.started_at) == (2, due)


async def test_an_orphan_is_recovered_once_it_is_old_enough(conn: Conn) -> None:
    _, run = await _first_run(conn)
    await conn.execute("DELETE FROM procrastinate_jobs")  # the job is gone: the run is orphaned
    # created_at is the database's own clock at the insert; `now` places the sweep after it.
    created = (
        await _one(conn, "SELECT created_at FROM workflow_schedule_executions WHERE id = %s", run)
    )["created_at"]
    young = created + timedelta(seconds=29)
    assert await recover_orphans(conn, min_age_seconds=30, now=young) == 0
    assert await recover_orphans(conn, min_age_seconds=30, now=young + timedelta(seconds=2)) == 1
    job = await _one(
        conn,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE args->'execution_ids' ? %s",
        str(run),
    )
    assert job == {"n": 1}, "the orphan has a new job"


async def test_the_run_of_a_deleted_schedule_is_cancelled_at_the_start_instant(
    conn: Conn,
) -> None:
    schedule_id, run = await _first_run(conn)
    await start_batch(conn, [run], now=T0)  # running: the delete leaves its attempt alone
    await ScheduleService(conn, "acme").delete(schedule_id)
    again = T0 + timedelta(seconds=5)  # its job runs again (its worker died)
    assert await start_batch(conn, [run], now=again) == []
    row = await _one(
        conn, "SELECT status, finished_at FROM workflow_schedule_executions WHERE id = %s", run
    )
    assert (row["status"], row["finished_at"]) == ("cancelled", again)


async def test_missed_slots_end_at_the_pass_instant(conn: Conn) -> None:
    await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(hours=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *", "misfire_policy": "skip"}
    )
    await dispatch_once(conn, now=T0)
    cursor = await conn.execute(
        "SELECT DISTINCT finished_at FROM workflow_schedule_executions WHERE status = 'missed'"
    )
    assert await cursor.fetchall() == [{"finished_at": T0}]


async def test_an_auto_pause_is_a_change_made_at_the_finish(conn: Conn) -> None:
    schedule_id, run = await _first_run(conn, max_attempts=1, pause_after_failures=1)
    [attempt] = await start_batch(conn, [run], now=T0)
    finished = T0 + timedelta(seconds=3)
    assert await finish_batch(conn, [Answer(attempt, REFUSED)], now=finished) == [schedule_id]
    row = await _one(
        conn,
        "SELECT state, updated_at, last_status FROM workflow_schedules WHERE id = %s",
        schedule_id,
    )
    assert row == {"state": "paused", "updated_at": finished, "last_status": "failed"}


async def test_failures_add_to_the_streak_across_batches_and_a_success_resets_it(
    conn: Conn,
) -> None:
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(hours=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *", "max_attempts": 1}
    )
    backfill = await ExecutionService(conn, "acme", clock=lambda: T0).backfill(
        schedule.id, T0 - timedelta(minutes=3), T0
    )
    first, second, third = backfill.execution_ids

    async def finish(runs: list[UUID], outcome: Outcome) -> int:
        attempts = await start_batch(conn, runs, now=T0)
        await finish_batch(conn, [Answer(a, outcome) for a in attempts], now=T0)
        row = await _one(
            conn, "SELECT consecutive_failures FROM workflow_schedules WHERE id = %s", schedule.id
        )
        return int(row["consecutive_failures"])

    assert await finish([first, second], REFUSED) == 2
    assert await finish([third], Outcome("succeeded", 200, None, None, None, 4)) == 0


async def test_a_run_held_at_its_tenants_cap_is_deferred_from_the_start_instant(
    conn: Conn,
) -> None:
    _, first = await _first_run(conn)
    _, second = await _first_run(conn)
    assert len(await start_batch(conn, [first], max_in_flight=1, now=T0)) == 1
    start = T0 + timedelta(seconds=1)
    assert await start_batch(conn, [second], max_in_flight=1, now=start) == []
    row = await _one(
        conn,
        "SELECT j.scheduled_at FROM workflow_schedule_executions e "
        "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE e.id = %s",
        second,
    )
    assert row["scheduled_at"] == start + HELD_RUN_DELAY_AT_CAP


async def _runs_of(conn: Conn, tenant: str, at: datetime, count: int) -> list[UUID]:
    """Runs of `count` new every-minute schedules of `tenant`, dispatched at `at` (not started)."""
    service = ScheduleService(conn, tenant, clock=lambda: at - timedelta(seconds=1))
    ids = [
        (await service.create({"workflow_id": "wf", "cron_expression": "* * * * *"})).id
        for _ in range(count)
    ]
    await dispatch_once(conn, now=at + timedelta(milliseconds=2))
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = ANY(%s)", (ids,)
    )
    return [UUID(str(row["id"])) for row in await cursor.fetchall()]


async def _run_of(conn: Conn, tenant: str, at: datetime) -> UUID:
    """A run of a new every-minute schedule of `tenant`, dispatched at `at` (not started)."""
    [run] = await _runs_of(conn, tenant, at, 1)
    return run


async def test_a_tenant_near_its_cap_does_not_hold_another_tenants_runs_of_the_batch(
    conn: Conn, database_url: str
) -> None:
    """A batch with runs of two tenants, one near its cap of runs in flight whose per-tenant
    lock another start holds: the other tenant's runs are started and committed at once, and
    the first tenant's start when the lock is free (issue 7: no tenant slows another)."""
    # acme's two runs could take it over its cap if batches raced (near: locked and counted
    # again); globex's one could not (far: started without a lock). No worker process has
    # reported in this database: the racing starts are the caller's own.
    cap = racing_starts(0)
    near = [await _run_of(conn, "acme", T0), await _run_of(conn, "acme", T0)]
    other = await _run_of(conn, "globex", T0)
    seat = await seated_process(conn)
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        async with holder.transaction():
            await holder.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('tenant-in-flight:acme', 0))"
            )
            starting = asyncio.create_task(
                start_batch(conn, [*near, other], max_in_flight=cap, seat=seat)
            )
            async with await psycopg.AsyncConnection.connect(database_url) as looker:

                async def status(run: UUID) -> str:
                    cursor = await looker.execute(
                        "SELECT status FROM workflow_schedule_executions WHERE id = %s", (run,)
                    )
                    found = await cursor.fetchone()
                    assert found is not None
                    return str(found[0])

                deadline = asyncio.get_running_loop().time() + 10
                while await status(other) != "running":
                    assert asyncio.get_running_loop().time() < deadline, "globex waited for acme"
                    await asyncio.sleep(0.02)
                assert [await status(run) for run in near] == ["pending", "pending"]
                assert not starting.done()
        attempts = await asyncio.wait_for(starting, 10)
    assert {a.execution_id for a in attempts} == {*near, other}


async def _running(conn: Conn, tenant: str) -> int:
    row = await _one(
        conn,
        "SELECT count(*) AS n FROM workflow_schedule_executions "
        "WHERE tenant = %s AND status = 'running'",
        tenant,
    )
    return int(row["n"])


async def test_a_locked_start_counts_the_runs_of_a_lock_free_start_in_flight(
    conn: Conn, database_url: str
) -> None:
    """A few runs start without the tenant's lock (far below its cap) while a batch that
    would fill the cap on its own starts under the lock: the locked start waits for the
    lock-free one to commit and holds back as many runs as it started. Counting committed
    runs alone, the two passed the cap together (issue 7: a tenant's cap is exact)."""
    cap = 2 * racing_starts(0)  # two runs at once are far below it; `cap` runs are near
    few = await _runs_of(conn, "acme", T0, 2)
    many = await _runs_of(conn, "acme", T0 + timedelta(minutes=1), cap)
    seat = await seated_process(conn)
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as other:
        async with other.transaction():  # the lock-free start, not yet committed
            assert len(await start_batch(other, few, max_in_flight=cap, seat=seat)) == 2
            locked = asyncio.create_task(start_batch(conn, many, max_in_flight=cap))
            assert await waits_for_an_advisory_lock(database_url, locked)
        assert len(await asyncio.wait_for(locked, 10)) == cap - 2
    assert await _running(conn, "acme") == cap


async def test_a_start_that_outlives_its_seat_starts_again_under_the_lock(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Far below its cap, a batch starts without the tenant's lock; its process's seat lapses
    before it commits (its health report aged past half its stale time meanwhile): the start
    is rolled back and made again under the lock, which waits for the tenant's lock-free
    start in flight."""
    runs = [await _run_of(conn, "acme", T0), await _run_of(conn, "acme", T0)]
    seat = await seated_process(conn, T0)
    seat_lapses_before(monkeypatch, executions_repo, "start_attempts", database_url, seat)
    async with advisory_lock_held(database_url, "tenant-in-flight:acme", shared=True):
        start = asyncio.create_task(start_batch(conn, runs, max_in_flight=1_000, seat=seat, now=T0))
        assert await waits_for_an_advisory_lock(database_url, start)
    assert len(await asyncio.wait_for(start, 10)) == 2


async def test_the_lock_free_start_counts_the_worker_processes_alive(
    conn: Conn, database_url: str
) -> None:
    """A tenant's batch starts without its lock when even `racing_starts` such batches, one
    per start the processes alive may run at once, stay within its cap. Processes whose loops
    went silent are not counted; each live one makes the bound stricter. Another lock-free
    start of the tenant is in flight: the far start goes on beside it, the near one waits."""
    cap = 2 * racing_starts(0)  # two runs at once: far while no other process is alive
    await report_worker_processes(conn, 3, T0 - timedelta(minutes=5))  # stale: not counted
    seat = await seated_process(conn, T0)  # the caller's own process
    async with advisory_lock_held(database_url, "tenant-in-flight:acme", shared=True):
        runs = [await _run_of(conn, "acme", T0), await _run_of(conn, "acme", T0)]
        start = asyncio.create_task(start_batch(conn, runs, max_in_flight=cap, seat=seat, now=T0))
        assert not await waits_for_an_advisory_lock(database_url, start)
        assert len(await start) == 2

    # Another tenant with nothing running, the same two runs: near once 3 processes are alive.
    await report_worker_processes(conn, 3, T0 - timedelta(seconds=1))
    assert 2 * racing_starts(3) > cap
    async with advisory_lock_held(database_url, "tenant-in-flight:globex", shared=True):
        runs = [await _run_of(conn, "globex", T0), await _run_of(conn, "globex", T0)]
        start = asyncio.create_task(start_batch(conn, runs, max_in_flight=cap, seat=seat, now=T0))
        assert await waits_for_an_advisory_lock(database_url, start)
    assert len(await asyncio.wait_for(start, 10)) == 2


@pytest.mark.parametrize("report_age", [None, timedelta(seconds=16)])
async def test_a_start_without_a_seat_in_the_fleet_takes_the_tenant_lock(
    conn: Conn, database_url: str, report_age: timedelta | None
) -> None:
    """A caller whose process holds no seat among the worker processes (none given, or its
    health report older than half its 30 s stale time) may go uncounted by the others'
    lock-free starts, so it never starts without the lock itself: far below its cap, its
    start still waits for a lock-free start of the tenant in flight."""
    runs = [await _run_of(conn, "acme", T0), await _run_of(conn, "acme", T0)]
    seat = None if report_age is None else await seated_process(conn, T0 - report_age)
    async with advisory_lock_held(database_url, "tenant-in-flight:acme", shared=True):
        start = asyncio.create_task(start_batch(conn, runs, max_in_flight=1_000, seat=seat, now=T0))
        assert await waits_for_an_advisory_lock(database_url, start)
    assert len(await asyncio.wait_for(start, 10)) == 2
