"""What a worker process holds while it runs: one pool, one HTTP client, the loops.

Created when the worker starts (never at import), closed when it stops. Tasks reach it through
`current()`, because Procrastinate calls task functions with their job's arguments only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType

from procrastinate import App

from app.settings import Settings
from db.pool import create_pool
from worker.db_clock import DbClock
from worker.dispatcher import Dispatcher
from worker.executor import BatchExecutor
from worker.http_target import HttpTarget
from worker.local import LocalRunner
from worker.maintenance import Maintenance, MaintenanceConfig

log = logging.getLogger("worker.runtime")
LOCAL_BATCHES_PER_SLOT = 10
_current: WorkerRuntime | None = None


class WorkerRuntime:
    def __init__(self, app: App, settings: Settings) -> None:
        self.settings = settings
        concurrency = settings.scheduler_worker_concurrency
        self.pool = create_pool(
            settings.database_url, min_size=2, max_size=2 * concurrency + 4, name="worker"
        )
        self.clock = DbClock()
        self.target = HttpTarget(
            max_connections=max(100, concurrency * 100),
            # One slow origin holds at most this many of the client's requests (issue 10, H1);
            # the shared default target carries everyone's runs and may use the whole client.
            max_per_origin=settings.scheduler_origin_connections,
            uncapped_urls=[settings.scheduler_target_url],
            clock=self.clock.now,  # Retry-After dates on the database clock (M3)
        )
        self.executor = BatchExecutor(
            self.pool, self.target, settings, self.clock, freeze_startup_heap=True
        )
        self.local = LocalRunner(
            app,
            self.executor,
            # A batch waiting for its instant is a sleeping coroutine and requests in flight
            # are bounded by the HTTP client, so this runner holds far more batches than
            # Procrastinate's fetch slots: a burst of 10,000 runs due at one instant is 100
            # batches, and each must be waiting in place before the instant to be on time.
            capacity=concurrency * LOCAL_BATCHES_PER_SLOT,
            heartbeat_interval=settings.scheduler_heartbeat_interval,
        )
        self.dispatcher = Dispatcher(self.pool, settings.database_url, local=self.local)
        self.maintenance = Maintenance(
            app,
            self.pool,
            MaintenanceConfig(
                interval=settings.scheduler_maintenance_interval,
                stalled_after=settings.scheduler_stalled_after,
            ),
        )
        self._loops: list[asyncio.Task[None]] = []
        self._clock_task: asyncio.Task[None] | None = None
        self._stop_requested_at: float | None = None

    async def __aenter__(self) -> WorkerRuntime:
        global _current
        await self.pool.open(wait=False)
        await self.local.open()
        _current = self
        return self

    def start_loops(self) -> None:
        self._loops = [
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.maintenance.run(), name="maintenance"),
            asyncio.create_task(self.maintenance.fold_stats(), name="stats-fold"),
        ]
        self._clock_task = asyncio.create_task(self.clock.run(self.pool), name="db-clock")

    def stop_loops(self) -> None:
        """First step of a graceful stop: no new dispatches; running batches carry on."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self.dispatcher.stop()
        self.maintenance.stop()
        if self._clock_task is not None:  # batches still running keep the last estimate
            self._clock_task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _current
        self.stop_loops()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # One shutdown budget for everything, counted from the stop request.
        spent = time.monotonic() - (self._stop_requested_at or time.monotonic())
        await self.local.close(
            grace_seconds=max(0.0, self.settings.scheduler_shutdown_timeout - spent)
        )
        await self.target.aclose()
        await self.pool.close()
        _current = None


def current() -> WorkerRuntime:
    if _current is None:
        raise RuntimeError("no worker runtime: tasks run inside `procrastinate ... worker`")
    return _current
