"""Runs, in this process, the batch jobs this process's dispatcher has just created.

Why: through Procrastinate, a batch waits for the commit's NOTIFY, a fetch round trip per job
and a free slot in some worker (~20–25 ms measured at 100 fires/s, more in a burst). The
dispatcher already holds the runs, so it claims up to `capacity` of the jobs it defers for
this runner, in the same transaction (status `doing`, owned by the runner's own worker
identity), and the runner starts them the moment the transaction commits.

Guarantees are Procrastinate's: the runner registers as a Procrastinate worker and heartbeats;
if the process dies, its jobs are stalled and the other workers' maintenance requeues them
(same runs, same Idempotency-Keys). Jobs beyond the free capacity stay `todo` for any worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from procrastinate import App
from procrastinate.jobs import Status

from db import jobs
from worker.executor import BatchExecutor
from worker.service import Service, ServiceConfig

log = logging.getLogger("worker.local")


class LocalRunner:
    def __init__(
        self,
        app: App,
        executor: BatchExecutor,
        capacity: int,
        heartbeat_interval: float,
        stale_floor: float = 30.0,
        stalled_after: float = 30.0,
    ) -> None:
        self.app = app
        self.executor = executor
        self.capacity = capacity
        self.worker_id: int | None = None
        self.heartbeat = LocalHeartbeat(
            self,
            stalled_after,
            ServiceConfig(
                "local.heartbeat",
                period=heartbeat_interval,
                max_backoff=heartbeat_interval,
                stale_floor=stale_floor,
            ),
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def free(self) -> int:
        """How many more batches this runner takes now (0 until it is registered)."""
        return 0 if self.worker_id is None else max(0, self.capacity - len(self._tasks))

    async def open(self) -> None:
        try:
            self.worker_id = await self.app.job_manager.register_worker()
        except Exception as exc:  # the database is away: the heartbeat registers it later
            log.warning(
                "local runner not registered",
                extra={"event": "local.register_error", "error": type(exc).__name__},
            )
        self._heartbeat = asyncio.create_task(self.heartbeat.run(), name="local-heartbeat")

    def start(self, jobs: Sequence[tuple[int, list[UUID]]]) -> None:
        for job_id, execution_ids in jobs:
            task = asyncio.create_task(self._run(job_id, execution_ids), name=f"local-{job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: int, execution_ids: list[UUID]) -> None:
        status = Status.SUCCEEDED
        try:
            await self.executor.run_batch(execution_ids)
        except Exception:
            log.exception(
                "local batch failed; its runs will be recovered",
                extra={"event": "local.batch_error", "job_id": job_id},
            )
            status = Status.FAILED
        with contextlib.suppress(Exception):  # if this fails, the orphan sweep finishes it
            await self.app.job_manager.finish_job_by_id_async(
                job_id, status=status, delete_job=status == Status.SUCCEEDED
            )

    async def close(self, grace_seconds: float) -> None:
        """Let running batches finish (up to `grace_seconds`), then give up the worker identity:
        what is left is requeued by the other workers."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
        self.heartbeat.stop()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.worker_id is not None:
            with contextlib.suppress(Exception):
                await self.app.job_manager.unregister_worker(self.worker_id)
            self.worker_id = None


class LocalHeartbeat(Service[None]):
    """The local runner's heartbeat, through the runtime's pool, the one the claims use
    (Procrastinate's pool can take many seconds to reconnect after a database outage:
    psycopg-pool backs off). A failed beat is logged and retried (it used to be swallowed
    without a word).

    It registers a new identity when the old one is gone (a worker that starts prunes every
    identity whose heartbeat looks stale, and an outage makes them all look stale), and also
    when its own last beat is older than `stalled_after`: by then the other workers may take
    the identity's jobs for stalled, and a batch that failed while the database was away could
    not mark its job failed, so that job would stay `doing` under an identity this process
    keeps alive, and its runs `running`, forever (tests/faults/test_long_outage.py). A new identity
    leaves the old one's jobs to recovery, like a crashed worker's: sent again, same keys."""

    def __init__(self, runner: LocalRunner, stalled_after: float, config: ServiceConfig) -> None:
        super().__init__(config)
        self.runner = runner
        self.stalled_after = stalled_after
        self._last_beat = time.monotonic()  # the runner registers as it opens

    async def run_once(self, now: datetime | None) -> None:
        runner = self.runner
        stale = time.monotonic() - self._last_beat > self.stalled_after
        async with runner.executor.pool.connection() as conn:
            if (
                runner.worker_id is not None
                and not stale
                and await jobs.heartbeat(conn, runner.worker_id)
            ):
                self._last_beat = time.monotonic()
                return
            lost, runner.worker_id = runner.worker_id, await jobs.register_worker(conn)
        self._last_beat = time.monotonic()
        log.warning(
            "local runner registered (again)",
            extra={
                "event": "local.registered",
                "lost_worker_id": lost,
                "reason": "silent longer than the stalled timeout" if stale else "identity gone",
            },
        )
