"""The runs' batch jobs are deferred by our own statement (db/queries/jobs.sql says why): each
job must be the one Procrastinate's own batch defer makes, which its workers run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from procrastinate import App, PsycopgConnector

from db.jobs import (
    BATCH_SIZE,
    EXECUTIONS_QUEUE,
    RUN_BATCH_TASK,
    claim_for_local_run,
    defer_run_batches,
    register_worker,
)
from db.types import Conn

# What a job is, apart from its id and what happens to it later.
_FIELDS = (
    "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status, worker_id,"
    " attempts, abort_requested"
)


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
    ours = (await defer_run_batches(conn, ids, at=at)).batches
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
    assert await defer_run_batches(conn, []) == ([], [])


async def _claimed_the_old_way(conn: Conn, batches: list[list[UUID]], worker: int) -> list[int]:
    """Jobs deferred `todo`, then taken by job_claim_local, in one transaction."""
    async with conn.transaction():
        jobs = await _procrastinates_own(conn, batches, None)
        assert await claim_for_local_run(conn, jobs, worker) == jobs
    return jobs


async def test_the_jobs_a_worker_runs_itself_are_inserted_taken(conn: Conn) -> None:
    """The first `run_here` jobs are what job_claim_local made of them (`doing`, owned by the
    worker), the others wait for any worker; the worker's heartbeat is refreshed."""
    worker = await register_worker(conn)
    await conn.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
        " WHERE id = %s",
        (worker,),
    )
    ids = [uuid4() for _ in range(2 * BATCH_SIZE + 7)]
    deferred = await defer_run_batches(conn, ids, worker_id=worker, run_here=2)

    assert deferred.here == deferred.batches[:2]
    old = await _claimed_the_old_way(conn, [runs for _, runs in deferred.here], worker)
    assert await _jobs(conn, [job for job, _ in deferred.here]) == await _jobs(conn, old)
    (waiting,) = await _jobs(conn, [deferred.batches[2][0]])
    assert (waiting["status"], waiting["worker_id"]) == ("todo", None)
    cursor = await conn.execute(
        "SELECT last_heartbeat > now() - interval '10 s' AS fresh FROM procrastinate_workers"
        " WHERE id = %s",
        (worker,),
    )
    assert (await cursor.fetchone())["fresh"]


async def test_a_pruned_worker_takes_none_and_its_jobs_wait_for_any_worker(conn: Conn) -> None:
    worker = await register_worker(conn)
    await conn.execute("DELETE FROM procrastinate_workers WHERE id = %s", (worker,))
    deferred = await defer_run_batches(conn, [uuid4(), uuid4()], worker_id=worker, run_here=1)
    assert deferred.here == []
    (job,) = await _jobs(conn, [deferred.batches[0][0]])
    assert (job["status"], job["worker_id"]) == ("todo", None)


async def test_jobs_taken_here_wake_no_worker(conn: Conn, database_url: str) -> None:
    """Procrastinate's workers are notified of every job inserted `todo`, and each looked for
    a job to fetch; a job the dispatching worker runs itself is nobody else's business."""
    worker = await register_worker(conn)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute("LISTEN procrastinate_any_queue_v1")
        here = await defer_run_batches(
            conn, [uuid4() for _ in range(BATCH_SIZE + 50)], worker_id=worker, run_here=2
        )
        assert len(here.here) == 2
        # Then one job for any worker: its notice comes after any the first two caused.
        ((marker, _),) = (await defer_run_batches(conn, [uuid4()])).batches
        notified = []
        async for notice in listener.notifies(timeout=10):
            notified.append(json.loads(notice.payload)["job_id"])
            if notified[-1] == marker:
                break
        assert notified == [marker]
