"""Procrastinate jobs, deferred on the caller's connection so a run row and its job commit
together (SPEC §4.1, STYLE 6): there is never a run without a job, nor a job without its run.

The tasks themselves live in `worker/`; code here only names them. Deferring needs no open pool:
the INSERT runs on the connection passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from db.queries import query
from db.types import Conn

RUN_BATCH_TASK = "executions.run_batch"
EXECUTIONS_QUEUE = "executions"
PRUNE_TASK = "maintenance.prune"
MAINTENANCE_QUEUE = "maintenance"
# One job carries up to this many runs: a burst of 10,000 due runs is 40 jobs, not 10,000
# (Procrastinate handles a few hundred jobs per second per worker; see docs/architecture.md).
# A dispatcher's pass claims up to 250 schedules: one job each, one batch start and one
# Procrastinate finish (jobs of 100: 3.7 % more CPU a slot, docs/benchmarks.md).
BATCH_SIZE = 250
_procrastinate_log = logging.getLogger("procrastinate.jobs")  # where its deferrer logs


def chunks(ids: Sequence[UUID], size: int = BATCH_SIZE) -> list[list[UUID]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class Deferred(NamedTuple):
    """The jobs of one deferral, (job id, its runs) in the order of the runs, and those of them
    the calling worker took to run itself (`here`: the first ones, or none)."""

    batches: list[tuple[int, list[UUID]]]
    here: list[tuple[int, list[UUID]]]


async def defer_run_batches(
    conn: Conn,
    execution_ids: Sequence[UUID],
    *,
    at: datetime | None = None,
    worker_id: int | None = None,
    run_here: int = 0,
) -> Deferred:
    """Defer one `executions.run_batch` job per chunk of ids, the first `run_here` of them
    taken `doing` by worker `worker_id` (none if that identity is gone: see the statement).

    The jobs are what Procrastinate's batch defer makes (job_defer_run_batches says why not
    through it)."""
    batches = chunks(execution_ids)
    if not batches:
        return Deferred([], [])
    cursor = await conn.execute(
        query("job_defer_run_batches"),
        {
            "ids": list(execution_ids),
            "size": BATCH_SIZE,
            "queue": EXECUTIONS_QUEUE,
            "task": RUN_BATCH_TASK,
            "at": at,
            "worker_id": worker_id,
            "run_here": run_here if worker_id is not None else 0,
        },
    )
    rows = await cursor.fetchall()
    deferred = Deferred(
        [(row["id"], runs) for row, runs in zip(rows, batches, strict=True)],
        [(row["id"], runs) for row, runs in zip(rows, batches, strict=True) if row["here"]],
    )
    _log_deferred(deferred, at, worker_id)
    return deferred


def _log_deferred(deferred: Deferred, at: datetime | None, worker_id: int | None) -> None:
    """The record Procrastinate's deferrer writes (its logger, message and `jobs_deferred`
    fields), so that log readers and the console's short line (app/logging.py) keep working;
    without its `call_string`, a repr of the same arguments."""
    if not _procrastinate_log.isEnabledFor(logging.INFO):
        return
    here = {job for job, _ in deferred.here}
    jobs = [
        {
            "id": job,
            "status": "doing" if job in here else "todo",
            "queue": EXECUTIONS_QUEUE,
            "priority": 0,
            "lock": None,
            "queueing_lock": None,
            "task_name": RUN_BATCH_TASK,
            "task_kwargs": {"execution_ids": [str(run) for run in runs]},
            "scheduled_at": at.isoformat() if at else None,
            "attempts": 0,
            "abort_requested": False,
            "worker_id": worker_id if job in here else None,
        }
        for job, runs in deferred.batches
    ]
    count = len(jobs)
    _procrastinate_log.info(
        f"Deferred {count} {'job' if count == 1 else 'jobs'}",
        extra={"action": "jobs_deferred", "jobs": jobs},
    )


async def claim_for_local_run(conn: Conn, job_ids: Sequence[int], worker_id: int) -> list[int]:
    """Mark jobs just deferred in this transaction as running here (see worker/local.py)."""
    if not job_ids:
        return []
    cursor = await conn.execute(
        query("job_claim_local"), {"ids": list(job_ids), "worker_id": worker_id}
    )
    return [row["id"] for row in await cursor.fetchall()]


async def heartbeat(conn: Conn, worker_id: int) -> bool:
    """Refresh a worker identity's heartbeat; False if the identity no longer exists."""
    cursor = await conn.execute(query("job_worker_heartbeat"), {"worker_id": worker_id})
    return await cursor.fetchone() is not None


async def register_worker(conn: Conn) -> int:
    """A new Procrastinate worker identity (what `JobManager.register_worker` does)."""
    cursor = await conn.execute(query("job_worker_register"))
    row = await cursor.fetchone()
    assert row is not None
    return int(row["worker_id"])


async def queue_depth(conn: Conn, cap: int) -> dict[tuple[str, str], int]:
    """Jobs by (queue, status) among the first `cap` todo/doing jobs found (/metrics)."""
    cursor = await conn.execute(query("job_queue_depth"), {"cap": cap})
    return {(r["queue_name"], r["status"]): int(r["n"]) for r in await cursor.fetchall()}
