"""Direct database helpers for tests: create schedules through the service, read history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from app.domain.schedule import Schedule
from app.services.dispatch import dispatch_once
from app.services.schedules import ScheduleService
from db.types import Conn


@asynccontextmanager
async def advisory_lock_held(
    database_url: str, key: str, *, shared: bool = False
) -> AsyncIterator[None]:
    """The advisory lock named `key` (the app's `hashtextextended(key, 0)`) held by another
    connection until the block ends: exclusively, as a locked start or a joining process holds
    it, or `shared`, as a start without the per-tenant lock holds the tenant's and the fleet's
    (db/queries/quotas.sql)."""
    how = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    statement = sql.SQL("SELECT {}(hashtextextended(%s, 0))").format(sql.Identifier(how))
    async with await psycopg.AsyncConnection.connect(database_url) as holder, holder.transaction():
        await holder.execute(statement, (key,))
        yield


async def waits_for_an_advisory_lock(database_url: str, task: asyncio.Task[Any]) -> bool:
    """Whether `task` ends up waiting for an advisory lock rather than finishing without."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as looker:
        deadline = asyncio.get_running_loop().time() + 10
        while not task.done():
            cursor = await looker.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            found = await cursor.fetchone()
            if found is not None and found[0] > 0:
                return True
            assert asyncio.get_running_loop().time() < deadline, "it neither ended nor waited"
            await asyncio.sleep(0.02)
    return False


def create_schedule(
    database_url: str,
    tenant: str = "acme",
    clock: Callable[[], datetime] | None = None,
    **fields: Any,
) -> Schedule:
    async def create() -> Schedule:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            return await ScheduleService(conn, tenant, clock=clock).create(fields)

    return asyncio.run(create())


async def report_worker_processes(conn: Conn, count: int, reported_at: datetime) -> None:
    """`count` worker processes whose dispatch loop last reported at `reported_at` (stale 30 s
    after): what the lock-free start's racing bound counts (app/services/attempts.py)."""
    await conn.execute(
        "INSERT INTO worker_loop_health (process_id, loop, host, pid, stale_after_seconds, "
        "started_at, reported_at) SELECT gen_random_uuid(), 'dispatch', 'h', n, 30, %s, %s "
        "FROM generate_series(1, %s) AS n",
        (reported_at, reported_at, count),
    )


async def seated_process(conn: Conn, reported_at: datetime | None = None) -> UUID:
    """A worker process whose health report is in at `reported_at` (else now, on the database
    clock; stale 30 s after): it holds its seat in the fleet for 15 s from then, so its starts
    may go without the per-tenant lock (docs/architecture.md). Its id, the `seat` to pass."""
    process = uuid4()
    await conn.execute(
        "INSERT INTO worker_loop_health (process_id, loop, host, pid, stale_after_seconds, "
        "started_at, reported_at, seated_at) "
        "SELECT %s, 'health.report', 'seated', 1, 30, t.at, t.at, t.at "
        "FROM (SELECT coalesce(%s, clock_timestamp()) AS at) AS t",
        (process, reported_at),
    )
    return process


def seat_lapses_before(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, database_url: str, seat: UUID
) -> None:
    """Make `module.name` (a statement a start runs after its count of the processes) first
    age the seat's health report and its seat by 16 s, past half its 30 s stale time, from
    another connection: the seat lapses in the middle of a start that took it."""
    statement = getattr(module, name)

    async def after_the_seat_lapsed(*args: Any, **kwargs: Any) -> Any:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as other:
            await other.execute(
                "UPDATE worker_loop_health SET reported_at = reported_at - interval '16 s', "
                "seated_at = seated_at - interval '16 s' WHERE process_id = %s",
                (seat,),
            )
        return await statement(*args, **kwargs)

    monkeypatch.setattr(module, name, after_the_seat_lapsed)


def half_past_a_minute(minutes_ago: int = 5) -> datetime:
    """A creation time for "0 * * * * *" schedules whose pass, 61 s later, finds exactly one
    slot due. From a time in a minute's last second it found two, and the second came out
    skipped (its first was unfinished): a test that expected one run each failed one time in
    60 (seen in CI)."""
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(second=30, microsecond=0)


async def due_runs(
    database_url: str, workflows: Sequence[str], max_attempts: int = 1, tenant: str = "acme"
) -> list[UUID]:
    """One due run per workflow, dispatched and not yet sent; ids in the order given."""
    created_at = half_past_a_minute()
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        service = ScheduleService(conn, tenant, clock=lambda: created_at)  # type: ignore[arg-type]
        for workflow in workflows:
            await service.create(
                {
                    "workflow_id": workflow,
                    "cron_expression": "0 * * * * *",
                    "max_attempts": max_attempts,
                }
            )
        await dispatch_once(conn, now=created_at + timedelta(seconds=61))  # type: ignore[arg-type]
        cursor = await conn.execute(
            "SELECT id FROM workflow_schedule_executions WHERE workflow_id = ANY(%s)"
            " ORDER BY array_position(%s, workflow_id)",
            (list(workflows), list(workflows)),
        )
        return [row["id"] for row in await cursor.fetchall()]


def get_schedule(database_url: str, schedule_id: UUID | str, tenant: str = "acme") -> Schedule:
    async def load() -> Schedule:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            return await ScheduleService(conn, tenant).get(UUID(str(schedule_id)))

    return asyncio.run(load())


def executions(database_url: str, trigger_id: UUID | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        if trigger_id is None:
            return conn.execute(
                "SELECT * FROM workflow_schedule_executions ORDER BY scheduled_at"
            ).fetchall()
        return conn.execute(
            "SELECT * FROM workflow_schedule_executions WHERE trigger_id = %s "
            "ORDER BY scheduled_at",
            (trigger_id,),
        ).fetchall()


def one_row(database_url: str, sql: str) -> tuple[Any, ...]:
    """The one row `sql` returns now, read on a connection of its own."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()  # type: ignore[arg-type]  # tests' literal SQL
    assert row is not None, sql
    return tuple(row)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
