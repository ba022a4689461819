"""One dispatcher pass: claim due schedules, record their slots, defer their runs, advance them.

All in ONE transaction (SPEC §4.1): the execution rows, their Procrastinate jobs and the
schedules' next slots commit together or not at all. A crash mid-pass leaves the schedules due,
and the next pass (here or in another worker) does the same work; the unique slot key makes a
slot that did commit impossible to fire twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.firing import plan_pass
from app.services.executions import defer_runs
from db.repositories import executions as repo
from db.types import Conn


@dataclass(frozen=True, slots=True)
class PassStats:
    claimed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    jobs: int = 0
    lags_seconds: list[float] = field(default_factory=list)  # dispatch time - fire instant

    @property
    def fired(self) -> int:
        return self.statuses["pending"]


async def dispatch_once(
    conn: Conn, *, limit: int = 1_000, now: datetime | None = None
) -> PassStats:
    """Dispatch up to `limit` due schedules. `now` overrides the database clock (tests)."""
    async with conn.transaction():
        claimed = await repo.claim_due(conn, limit, now)
        if not claimed:
            return PassStats()
        rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for schedule, db_now, active_runs, buffered_runs in claimed:
            result = plan_pass(
                schedule, now or db_now, active_runs=active_runs, buffered_runs=buffered_runs
            )
            rows += [
                {
                    "trigger_id": schedule.id,
                    "workflow_id": schedule.workflow_id,
                    "tenant": schedule.tenant,
                    "scheduled_at": row.scheduled_at,
                    "fire_at": row.fire_at,
                    "status": row.status,
                    "trigger": row.trigger,
                    "error": row.error,
                    "buffered": row.buffered,
                    "input": schedule.input,
                }
                for row in result.rows
            ]
            updates.append(
                {
                    "id": schedule.id,
                    "state": result.next.state,
                    "next_run_at": result.next.next_run_at,
                    "next_fire_at": result.next.next_fire_at,
                    "remaining_runs": result.remaining_runs,
                    "missed_uncounted": result.missed_uncounted,
                }
            )
        inserted = await repo.insert_many(conn, rows)
        runnable = [r["id"] for r in inserted if r["status"] == "pending" and not r["buffered"]]
        job_count = await defer_runs(conn, runnable)
        await repo.advance_schedules(conn, updates)
    dispatched_at = claimed[0][1] if now is None else now
    fire_ats = {(r["trigger_id"], r["scheduled_at"]): r["fire_at"] for r in rows}
    return PassStats(
        claimed=len(claimed),
        statuses=Counter(r["status"] for r in inserted),
        jobs=job_count,
        lags_seconds=[
            (dispatched_at - fire_ats[(r["trigger_id"], r["scheduled_at"])]).total_seconds()
            for r in inserted
            if r["status"] == "pending"
        ],
    )


async def next_wake(conn: Conn) -> float | None:
    """Seconds until the earliest fire instant, on the database clock (None: nothing active)."""
    next_fire_at, db_now = await repo.next_fire(conn)
    if next_fire_at is None:
        return None
    return max(0.0, (next_fire_at - db_now).total_seconds())
