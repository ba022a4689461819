"""Readiness probes and the worker loops' health reports (table worker_loop_health)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from psycopg import errors

from app.domain.loop_health import LoopReport, LoopState, Seat, WorkerProcess
from db.queries import execute, fetch_all, fetch_one, query
from db.types import Conn


async def migration_version(conn: Conn) -> str | None:
    try:
        cursor = await conn.execute(query("migration_version"))
    except errors.UndefinedTable:
        return None
    row = await cursor.fetchone()
    return str(row["version_num"]) if row else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)  # one array type for psycopg


def _process(process: WorkerProcess) -> dict[str, object]:
    return {"process_id": process.process_id, "host": process.host, "pid": process.pid}


async def report_loops(
    conn: Conn,
    process: WorkerProcess,
    loops: Sequence[LoopReport],
    *,
    forget_after: float,
    lock_timeout: float,
    now: datetime | None = None,
) -> Seat:
    """Upsert one process's loops, and forget the rows of processes that are gone. The report
    keeps the process's seat in the fleet, or takes it under the fleet lock (its last one
    lapsed, db/queries/health.sql `fleet_join`), or, that lock not had within `lock_timeout`
    seconds, is written without it; a seat kept is renewed only if still held when the report
    is written (`Seat.LAPSED` otherwise)."""
    async with conn.transaction():
        await _fleet_lock_timeout(conn, lock_timeout)
        seat = await _keep_or_take_seat(conn, process, now)
        written = await fetch_all(
            conn,
            "loop_health_report",
            {
                **_process(process),
                "loops": [r.loop for r in loops],
                "stale_afters": [float(r.stale_after) for r in loops],
                "started_ages": [float(r.started_age) for r in loops],
                "success_ages": [_seconds(r.success_age) for r in loops],
                "failures": [r.failures for r in loops],
                "last_errors": [r.last_error for r in loops],
                "seat": seat.value,
                "now": now,
            },
        )
        await execute(
            conn,
            "loop_health_forget",
            {**_process(process), "forget_after": forget_after, "now": now},
        )
    if seat is Seat.KEPT and not any(row["seated"] for row in written):
        return Seat.LAPSED
    return seat


async def _fleet_lock_timeout(conn: Conn, seconds: float) -> None:
    await execute(conn, "fleet_lock_timeout", {"milliseconds": max(1, round(seconds * 1000))})


async def _keep_or_take_seat(conn: Conn, process: WorkerProcess, now: datetime | None) -> Seat:
    try:
        # A savepoint: a join refused the lock leaves the report to be written all the same.
        async with conn.transaction():
            joined = await fetch_all(
                conn, "fleet_join", {"process_id": process.process_id, "now": now}
            )
    except errors.LockNotAvailable:
        return Seat.REFUSED
    return Seat.TAKEN if joined else Seat.KEPT


async def seat_held(conn: Conn, process_id: UUID, now: datetime | None = None) -> bool:
    """Whether the worker process holds its seat in the fleet at `now` (else the database
    clock): its health report younger than half its stale time."""
    row = await fetch_one(conn, "fleet_seat_held", {"process_id": process_id, "now": now})
    return bool(row and row["seated"])


async def remove_process(conn: Conn, process: WorkerProcess, *, lock_timeout: float) -> None:
    """Delete a stopping process's rows, under the fleet lock (db/queries/health.sql
    `fleet_leave`): the others stop counting it only once its lock-free starts committed."""
    async with conn.transaction():
        await _fleet_lock_timeout(conn, lock_timeout)
        await execute(conn, "fleet_leave")
        await execute(conn, "loop_health_remove", {"process_id": process.process_id})


async def list_loops(
    conn: Conn, host: str | None = None, now: datetime | None = None, limit: int = 1_000
) -> list[LoopState]:
    rows = await fetch_all(conn, "loop_health_list", {"host": host, "now": now, "limit": limit})
    return [
        LoopState(
            process=WorkerProcess(row["process_id"], row["host"], row["pid"]),
            loop=row["loop"],
            stale_after=row["stale_after_seconds"],
            silent_seconds=row["silent_seconds"],
            last_success_at=row["last_success_at"],
            failures=row["failures"],
            last_error=row["last_error"],
            reported_at=row["reported_at"],
        )
        for row in rows
    ]
