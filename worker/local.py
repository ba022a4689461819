"""Runs, in this process, the batch jobs this process's dispatcher has just created.

Why: through Procrastinate, a batch waits for the commit's NOTIFY, a fetch round trip per job
and a free slot in some worker (~20–25 ms measured at 100 fires/s, more in a burst). The
dispatcher already holds the runs, so it claims as many of the jobs it defers as this runner
has room for, in the same transaction (status `doing`, owned by the runner's own worker
identity), and the runner starts them the moment the transaction commits.

Room is memory, not a count of batches: a run waiting for its instant is its attempt and its
request, built and signed (`BYTES_PER_PREPARED_RUN`), and the runner holds as many as
`memory_budget` bytes allow (SCHEDULER_PREPARED_RUNS_MEMORY_MB), so that a crowded instant of
50,000 runs per worker is waiting in place when it comes.

Guarantees are Procrastinate's: the runner registers as a Procrastinate worker and heartbeats;
if the process dies, its jobs are stalled and the other workers' maintenance requeues them
(same runs, same Idempotency-Keys). Jobs beyond the free capacity stay `todo` for any worker.

A job stays `doing` until every outcome of its batch is recorded (crash safety rests on it),
but only runs still waiting for their instant count against the budget: once the requests
are out, a batch is answers to wait for, which the HTTP client bounds. The runner also takes
over the runs in flight of batches Procrastinate's worker fetched (`run_fetched`), so that a
slow target cannot hold Procrastinate's few slots either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from procrastinate import App
from procrastinate.jobs import Status

from app.services.attempts import defer_runs
from db import jobs
from db.jobs import BATCH_SIZE
from worker.executor import Batch, BatchExecutor
from worker.service import Service, ServiceConfig

log = logging.getLogger("worker.local")
BYTES_PER_PREPARED_RUN = 4_096
"""Memory of one run waiting for its instant (its attempt, its request's bytes and secrets,
its share of the batch and of the sends at the instant), with the default input and headers:
2.0 KB by tracemalloc, ~4.3 KB of RSS per held run at a 100,000-slot instant on 2 workers
(292 MB with 50,000 each; docs/benchmarks.md). A budget divided by it is a number of runs."""
HANDOVER_AFTER = 1.0
"""Seconds a fetched batch's answers may take before its runs move to the local runner."""
DRAIN_SECONDS = 5.0
"""At a stop, how long the outcomes already in may take to be recorded."""
FINISH_RETRY_FIRST_DELAY = 0.2
FINISH_RETRY_SECONDS = 30.0
"""How long finishing a local job is retried (a database outage); past it, the heartbeat's
change of identity after a long silence hands the job to recovery."""


class _NotClaimed(Exception):
    """The local runner's identity is gone; the handover is rolled back."""


class LocalRunner:
    def __init__(
        self,
        app: App,
        executor: BatchExecutor,
        memory_budget: int,
        heartbeat_interval: float,
        stale_floor: float = 30.0,
        stalled_after: float = 30.0,
    ) -> None:
        self.app = app
        self.executor = executor
        self.capacity = max(BATCH_SIZE, memory_budget // BYTES_PER_PREPARED_RUN)  # runs
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
        self._tasks: set[asyncio.Task[None]] = set()  # every batch until recorded
        self._launching = 0  # runs with requests still to send: what `capacity` bounds
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def free(self) -> int:
        """How many more batches (of up to `BATCH_SIZE` runs) this runner takes now (0 until it
        is registered). Runs whose requests are out no longer count: their answers are bounded
        by the HTTP client, and a slow target must not use up the room of every tenant (issue
        10, H1)."""
        if self.worker_id is None:
            return 0
        return max(0, self.capacity - self._launching) // BATCH_SIZE

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
            self._launching += len(execution_ids)  # at once: the next pass must see it taken
            self._track(self._run(job_id, execution_ids), f"local-{job_id}")

    def _track(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: int, execution_ids: list[UUID]) -> None:
        """Send the batch (counted in the capacity while it waits for its instant), then keep
        its job `doing` until every outcome is recorded, without holding capacity."""
        try:
            try:
                batch = await self.executor.launch(execution_ids)
            finally:
                self._launching -= len(execution_ids)
        except Exception:
            await self._finish(job_id, failed=True)
            return
        await self._finish_when_recorded(job_id, batch)

    async def run_fetched(self, execution_ids: list[UUID]) -> None:
        """A batch job Procrastinate's own worker fetched (a retry, a job no dispatcher took):
        sent from its slot; runs still waiting for their answers after `HANDOVER_AFTER` are
        handed over to this runner, so that one of Procrastinate's few slots is not held for
        as long as a slow target takes to answer."""
        batch = await self.executor.launch(execution_ids)
        try:
            await asyncio.wait_for(asyncio.shield(batch.recorded), HANDOVER_AFTER)
            return
        except TimeoutError:
            pass
        except asyncio.CancelledError:  # Procrastinate stops its worker: the job stops here
            batch.cancel()
            raise
        if not await self._adopt(batch):
            await batch.wait()

    async def _adopt(self, batch: Batch) -> bool:
        """Give the batch's unrecorded runs a job of their own, claimed `doing` by this runner
        (one transaction: the runs point at it from then on); it ends when they are recorded.
        Crash safety is the local runner's: if this process dies, that job is stalled and
        requeued like any other. False (nothing changed) when that is not possible now."""
        worker_id = self.worker_id
        runs = sorted(batch.unrecorded)
        if worker_id is None or not runs:
            return False
        try:
            async with self.executor.pool.connection() as conn, conn.transaction():
                deferred = await defer_runs(conn, runs)
                job_ids = [job for job, _ in deferred]
                if len(await jobs.claim_for_local_run(conn, job_ids, worker_id)) < len(job_ids):
                    raise _NotClaimed  # this identity was pruned: roll back, keep the slot
        except Exception as exc:
            log.warning(
                "runs in flight not handed over; the batch keeps its slot",
                extra={"event": "local.handover_error", "error": type(exc).__name__},
            )
            return False
        for job_id, _ in deferred:
            self._track(self._finish_when_recorded(job_id, batch), f"local-adopted-{job_id}")
        log.info(
            "runs in flight handed over to the local runner",
            extra={"event": "local.handover", "runs": len(runs), "jobs": job_ids},
        )
        return True

    async def _finish_when_recorded(self, job_id: int, batch: Batch) -> None:
        try:
            await batch.wait()
        except Exception:
            await self._finish(job_id, failed=True)
        else:
            await self._finish(job_id, failed=False)

    async def _finish(self, job_id: int, *, failed: bool) -> None:
        if failed:
            log.exception(
                "local batch failed; its runs will be recovered",
                extra={"event": "local.batch_error", "job_id": job_id},
            )
        status = Status.FAILED if failed else Status.SUCCEEDED
        # Retried: a job left `doing` under this live identity is never taken for stalled, and
        # the orphan sweep leaves runs of a `doing` job alone, so a lost finish would keep
        # unrecorded runs `running` for as long as this process lives.
        delay, deadline = FINISH_RETRY_FIRST_DELAY, time.monotonic() + FINISH_RETRY_SECONDS
        while True:
            try:
                await self.app.job_manager.finish_job_by_id_async(
                    job_id, status=status, delete_job=not failed
                )
                return
            except Exception as exc:
                last = time.monotonic() + delay >= deadline
                log.log(
                    logging.ERROR if last else logging.WARNING,
                    "a local job could not be finished" if last else "finishing a local job failed",
                    extra={
                        "event": "local.finish_error" if last else "local.finish_retry",
                        "job_id": job_id,
                        "error": type(exc).__name__,
                    },
                )
                if last:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self, grace_seconds: float) -> None:
        """Let running batches finish (up to `grace_seconds`), then give up the worker identity:
        what is left is requeued by the other workers."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
        await self.executor.drain(timeout=DRAIN_SECONDS)
        self.heartbeat.stop()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.worker_id is not None:
            try:
                await self.app.job_manager.unregister_worker(self.worker_id)
            except Exception as exc:  # the identity goes stale and is pruned by the others
                log.warning(
                    "local runner not unregistered",
                    extra={"event": "local.unregister_error", "error": type(exc).__name__},
                )
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
