"""Reports, heartbeats and timeouts of accepted runs: the outcomes aggregate's door to SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import args_row
from psycopg.types.json import Jsonb

from app.domain.callbacks import Report
from app.domain.execution import Execution
from db.queries import query
from db.repositories.executions import EndedRun
from db.types import Conn


@dataclass(frozen=True, slots=True)
class LockedRun:
    """A run locked for a report or heartbeat, with its own spec's limits and the time that
    decides (the caller's `now`, else the database clock)."""

    execution: Execution
    now: datetime
    completion_timeout_seconds: int
    max_attempts: int
    retry_backoff_seconds: float


@dataclass(frozen=True, slots=True)
class StoredReport:
    execution_id: UUID
    attempt: int
    report: Report
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class Conclusion:
    """How one accepted run ended (or that it is retried): what the finishers need next."""

    status: str
    error: str | None
    output: dict[str, Any] | None
    at: datetime
    retry_delay_seconds: float | None = None


async def _rows(conn: Conn, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchall() if cursor.description else []


async def callback_key(conn: Conn) -> str:
    rows = await _rows(conn, "callback_key", {})
    if not rows:
        raise LookupError("no callback key: apply the migrations (`scheduler migrate`)")
    return str(rows[0]["secret"])


async def tenant_of(conn: Conn, execution_id: UUID) -> str | None:
    rows = await _rows(conn, "execution_tenant", {"id": execution_id})
    return str(rows[0]["tenant"]) if rows else None


async def lock(
    conn: Conn, tenant: str, execution_id: UUID, now: datetime | None
) -> LockedRun | None:
    rows = await _rows(
        conn, "execution_lock_for_outcome", {"id": execution_id, "tenant": tenant, "now": now}
    )
    if not rows:
        return None
    row = rows[0]
    return LockedRun(
        execution=Execution.from_row(row),
        now=row["db_now"],
        completion_timeout_seconds=int(row["completion_timeout_seconds"]),
        max_attempts=int(row["max_attempts"]),
        retry_backoff_seconds=float(row["retry_backoff_seconds"]),
    )


async def _ended(conn: Conn, name: str, params: dict[str, Any]) -> list[EndedRun]:
    # The statements return EndedRun's columns in the order of its fields.
    async with conn.cursor(row_factory=args_row(EndedRun)) as cursor:
        await cursor.execute(query(name), params)
        return await cursor.fetchall()


def _report(row: dict[str, Any]) -> Report:
    return Report(
        status=row["status"], error=row["error"], output=row["output"], retryable=row["retryable"]
    )


async def report_of(conn: Conn, execution_id: UUID, attempt: int) -> Report | None:
    rows = await _rows(conn, "report_get", {"id": execution_id, "attempt": attempt})
    return _report(rows[0]) if rows else None


async def save_report(
    conn: Conn,
    run: Execution,
    report: Report,
    *,
    at: datetime,
    applied: bool,
) -> None:
    await conn.execute(
        query("report_insert"),
        {
            "id": run.id,
            "attempt": run.attempts,
            "tenant": run.tenant,
            "status": report.status,
            "error": report.error,
            "output": None if report.output is None else Jsonb(report.output),
            "retryable": report.retryable,
            "at": at,
            "applied": applied,
        },
    )


async def waiting_reports(conn: Conn, runs: Sequence[tuple[UUID, int]]) -> list[StoredReport]:
    """Early reports of the given (run, attempt) pairs that wait for their 202 to be recorded."""
    if not runs:
        return []
    rows = await _rows(
        conn,
        "reports_waiting",
        {"ids": [r for r, _ in runs], "attempts": [a for _, a in runs]},
    )
    return [
        StoredReport(row["execution_id"], row["attempt"], _report(row), row["reported_at"])
        for row in rows
    ]


async def mark_applied(conn: Conn, execution_id: UUID, attempt: int, now: datetime) -> None:
    await conn.execute(
        query("report_mark_applied"), {"id": execution_id, "attempt": attempt, "now": now}
    )


async def conclude(
    conn: Conn, execution_id: UUID, scheduled_at: datetime, end: Conclusion
) -> EndedRun | None:
    """End (or retry) an accepted run, known by its whole key (the slot: one partition
    read); None when it was not accepted any more."""
    rows = await _ended(
        conn,
        "execution_conclude",
        {
            "id": execution_id,
            "scheduled_at": scheduled_at,
            "status": end.status,
            "error": end.error,
            "output": None if end.output is None else Jsonb(end.output),
            "at": end.at,
            "retry_delay": end.retry_delay_seconds,
        },
    )
    return rows[0] if rows else None


async def extend_deadline(
    conn: Conn, execution_id: UUID, scheduled_at: datetime, deadline: datetime
) -> None:
    params = {"id": execution_id, "scheduled_at": scheduled_at, "deadline": deadline}
    await conn.execute(query("execution_extend_deadline"), params)


async def time_out_due(
    conn: Conn, *, now: datetime | None, limit: int, error: str
) -> list[EndedRun]:
    """Accepted runs past their deadline at `now` (else the database clock) end timed_out."""
    return await _ended(
        conn, "executions_time_out_due", {"now": now, "limit": limit, "error": error}
    )


async def awaiting_result(conn: Conn, cap: int) -> int:
    rows = await _rows(conn, "executions_awaiting_result", {"cap": cap})
    return int(rows[0]["n"])
