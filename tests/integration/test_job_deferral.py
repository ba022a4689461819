"""The runs' batch jobs are deferred by our own statement (db/queries/jobs.sql says why): each
job must be the one Procrastinate's own batch defer makes, which its workers run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from procrastinate import App, PsycopgConnector

from db.jobs import BATCH_SIZE, EXECUTIONS_QUEUE, RUN_BATCH_TASK, defer_run_batches
from db.types import Conn

# What a job is, apart from its id and what happens to it later.
_FIELDS = "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status"


async def _jobs(conn: Conn, ids: list[int]) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        f"SELECT {_FIELDS} FROM procrastinate_jobs WHERE id = ANY(%s) ORDER BY id", (ids,)
    )
    return await cursor.fetchall()


async def _procrastinates_own(
    conn: Conn, batches: list[list[UUID]], at: datetime | None
) -> list[int]:
    """The jobs as Procrastinate's batch defer makes them, on the same connection."""
    deferrer = App(connector=PsycopgConnector()).configure_task(
        RUN_BATCH_TASK, queue=EXECUTIONS_QUEUE, schedule_at=at, connection=conn
    )
    return await deferrer.batch_defer_async(
        *({"execution_ids": [str(i) for i in batch]} for batch in batches)
    )


def _deferred_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The `jobs_deferred` records logged, each as its message and its jobs without their ids
    (and without Procrastinate's `call_string`, a repr of the same arguments)."""
    skipped = {"id", "call_string"}
    return [
        {
            "logger": r.name,
            "message": r.getMessage(),
            "jobs": [{k: v for k, v in job.items() if k not in skipped} for job in r.jobs],
        }
        for r in caplog.records
        if getattr(r, "action", None) == "jobs_deferred"
    ]


@pytest.mark.parametrize("at", [None, datetime(2026, 5, 20, 12, 0, 1, tzinfo=UTC)])
async def test_a_deferred_batch_is_the_job_procrastinate_makes(
    conn: Conn, at: datetime | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="procrastinate")
    ids = [uuid4() for _ in range(2 * BATCH_SIZE + 7)]  # two full chunks and a short one
    ours = await defer_run_batches(conn, ids, at=at)
    our_record = _deferred_records(caplog)
    caplog.clear()

    assert [runs for _, runs in ours] == [ids[:BATCH_SIZE], ids[BATCH_SIZE:-7], ids[-7:]]
    theirs = await _procrastinates_own(conn, [runs for _, runs in ours], at)
    assert await _jobs(conn, [job for job, _ in ours]) == await _jobs(conn, theirs)
    # The log has the record Procrastinate writes, but for the jobs' ids.
    assert our_record == _deferred_records(caplog)
    assert [
        job["id"]
        for r in caplog.records
        if getattr(r, "action", None) == "jobs_deferred"
        for job in r.jobs
    ] == theirs
    # Each job id returned goes with its own runs (the order of the chunks is kept).
    for job, runs in ours:
        (row,) = await _jobs(conn, [job])
        assert row["args"] == {"execution_ids": [str(i) for i in runs]}


async def test_no_runs_defer_no_job(conn: Conn) -> None:
    assert await defer_run_batches(conn, []) == []
