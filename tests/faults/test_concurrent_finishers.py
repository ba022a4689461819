"""Batches of overlapping schedules finishing at the same moment (found by the database-fault
suite: after an outage, catch-up batches and regular batches of the same schedules end
together, and their outcome transactions deadlocked on the schedule rows).

Runs are made by real dispatcher passes (injected time), started in batches of random
composition, then finished concurrently from several connections, round after round. Every
finish must commit: a deadlock rolls one back, its runs stay `running`, and the recovery sweep
later delivers them a second time.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.domain.outcome import Outcome
from app.services.attempts import Answer, finish_batch, start_batch
from app.services.dispatch import dispatch_once
from app.services.schedules import ScheduleService
from tests.faults.conftest import scaled

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
OK = Outcome("succeeded", 200, None, None, None, 12)


async def _finish(conn: Any, attempts: list[Any]) -> int:
    """1 if the outcome transaction was chosen as a deadlock victim, else 0."""
    try:
        await finish_batch(conn, [Answer(attempt, OK) for attempt in attempts])
    except psycopg.errors.DeadlockDetected:
        return 1
    return 0


async def test_concurrent_finishers_of_overlapping_schedules_never_deadlock(
    database_url: str, figures: Any
) -> None:
    rng = random.Random(6)
    schedules, seconds, finishers = 200, scaled(30, 120), 8

    async def connect() -> Any:
        return await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        )

    async with await connect() as conn:
        service = ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1))
        for n in range(schedules):
            await service.create(
                {
                    "workflow_id": f"fin-{n}",
                    "cron_expression": "* * * * * *",
                    "overlap_policy": "allow_all",
                }
            )
        for second in range(seconds):
            await dispatch_once(conn, now=T0 + timedelta(seconds=second, milliseconds=5))
        cursor = await conn.execute("SELECT id FROM workflow_schedule_executions")
        runs = [row["id"] for row in await cursor.fetchall()]
    assert len(runs) == schedules * seconds

    rng.shuffle(runs)
    batches, at = [], 0
    while at < len(runs):  # batch sizes like a burst's: a few runs up to a full 100
        size = rng.choice([3, 13, 40, 100])
        batches.append(runs[at : at + size])
        at += size

    connections = [await connect() for _ in range(finishers)]
    deadlocks = 0
    try:
        for start in range(0, len(batches), finishers):
            group = batches[start : start + finishers]
            started = [await start_batch(connections[i], batch) for i, batch in enumerate(group)]

            deadlocks += sum(
                await asyncio.gather(
                    *(_finish(connections[i], attempts) for i, attempts in enumerate(started))
                )
            )
    finally:
        for connection in connections:
            await connection.close()

    with psycopg.connect(database_url) as check:
        statuses = dict(
            check.execute(  # type: ignore[arg-type]
                "SELECT status, count(*) FROM workflow_schedule_executions GROUP BY status"
            ).fetchall()
        )
    figures(
        scenario="concurrent finishers",
        runs=len(runs),
        batches=len(batches),
        concurrent_finishers=finishers,
        deadlocks=deadlocks,
        statuses=statuses,
    )
    assert deadlocks == 0
    assert statuses == {"succeeded": len(runs)}
