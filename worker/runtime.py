"""What a worker process holds while it runs: one pool, one HTTP client, the loops.

Created when the worker starts (never at import), closed when it stops. Tasks reach it through
`current()`, because Procrastinate calls task functions with their job's arguments only.

Every long-running task of the process is a supervised service (worker/service.py): the
dispatcher and its LISTEN, recovery, the statistics fold, the completion timeouts, the history
partitions, the alert sender, the database clock, the local runner's heartbeat, Procrastinate's
worker (worker/app.py) and the health reporter that writes their state for `scheduler check` and
/metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import Any

from procrastinate import App

from app.services.dispatch import Lookahead
from app.settings import Settings
from db.pool import create_pool
from worker.alerts import AlertSender
from worker.db_clock import DbClock, DbClockSampler
from worker.dispatcher import ChangeListener, Dispatcher, DispatcherConfig
from worker.executor import BatchExecutor
from worker.health import HealthReporter, this_process
from worker.http.target import HttpTarget
from worker.local import LocalRunner
from worker.maintenance import (
    CompletionTimeouts,
    HistoryPartitions,
    MaintenanceConfig,
    Recovery,
    StatsFold,
    history_policy,
)
from worker.service import Service, ServiceConfig

log = logging.getLogger("worker.runtime")
COUNTED_WORKERS = 4
_current: WorkerRuntime | None = None


class WorkerRuntime:
    def __init__(self, app: App, settings: Settings) -> None:
        self.settings = settings
        concurrency = settings.scheduler_worker_concurrency
        floor = settings.scheduler_loop_stale_after
        self.pool = create_pool(
            settings.database_url, min_size=2, max_size=2 * concurrency + 4, name="worker"
        )
        self.clock = DbClock()
        # Its health reports take its seat in the fleet; the dispatcher's and the executor's
        # starts without the per-tenant lock need it (docs/architecture.md).
        self.process = this_process()
        self.target = HttpTarget(
            max_connections=max(100, concurrency * 100),
            # One slow origin holds at most this many of the client's requests (issue 10, H1);
            # the shared default target carries everyone's runs and may use the whole client.
            max_per_origin=settings.scheduler_origin_connections,
            uncapped_urls=[settings.scheduler_target_url],
            clock=self.clock.now,  # Retry-After dates on the database clock (M3)
        )
        self.executor = BatchExecutor(
            self.pool,
            self.target,
            settings,
            self.clock,
            worker_process=True,
            seat=self.process.process_id,
        )
        self.local = LocalRunner(
            app,
            self.executor,
            # A batch waiting for its instant is a sleeping coroutine and requests in flight
            # are bounded by the HTTP client, so this runner holds far more batches than
            # Procrastinate's fetch slots: as many runs as its memory budget allows, since
            # each must be waiting in place before the instant to be on time.
            memory_budget=settings.scheduler_prepared_runs_memory_mb * 2**20,
            heartbeat_interval=settings.scheduler_heartbeat_interval,
            stale_floor=floor,
            stalled_after=settings.scheduler_stalled_after,
        )
        self.dispatcher = Dispatcher(
            self.pool,
            DispatcherConfig(
                max_sleep=settings.scheduler_dispatch_max_sleep,
                lookahead=Lookahead(
                    base=settings.scheduler_dispatch_lead_seconds,
                    # Counting further could not make the lead useful: the workers hold no
                    # more runs than their memory budgets (a few workers' worth counted).
                    count_limit=COUNTED_WORKERS * self.local.capacity,
                ),
                stale_floor=floor,
                max_runs_per_minute=settings.scheduler_tenant_max_runs_per_minute,
                max_runs_in_flight=settings.scheduler_tenant_max_runs_in_flight,
                alerts=settings.alert_policy,
            ),
            local=self.local,
            seat=self.process.process_id,
        )
        self.listener = ChangeListener(
            settings.database_url,
            self.dispatcher.wake,
            ServiceConfig("dispatch.listen", period=5.0, max_backoff=5.0, stale_floor=floor),
        )
        maintenance = MaintenanceConfig(
            interval=settings.scheduler_maintenance_interval,
            stalled_after=settings.scheduler_stalled_after,
            stale_floor=floor,
            alerts=settings.alert_policy,
            history=history_policy(
                settings.scheduler_history_partition_hours,
                settings.scheduler_history_partitions_ahead,
            ),
            history_retention_days=settings.scheduler_history_retention_days,
            history_lock_timeout=settings.scheduler_history_lock_timeout,
            fold_every=settings.scheduler_stats_fold_interval,
        )
        self.recovery = Recovery(app, self.pool, maintenance)
        self.history = HistoryPartitions(self.pool, maintenance)
        self.stats_fold = StatsFold(self.pool, maintenance)
        self.timeouts = CompletionTimeouts(self.pool, maintenance)
        self.alerts = AlertSender(self.pool, self.target, settings, stale_floor=floor)
        self.clock_sampler = DbClockSampler(
            self.clock,
            self.pool,
            ServiceConfig("db_clock", period=2.0, max_backoff=2.0, stale_floor=floor),
        )
        self.reporter = HealthReporter(
            self.pool,
            lambda: self.services,
            period=settings.scheduler_heartbeat_interval,
            stale_floor=floor,
            process=self.process,
        )
        self.services: list[Service[Any]] = [
            self.dispatcher,
            self.listener,
            self.recovery,
            self.stats_fold,
            self.timeouts,
            self.history,
            self.alerts,
            self.clock_sampler,
            self.local.heartbeat,  # run by the local runner itself
            self.reporter,
        ]
        # Hold nothing worth finishing at a stop: cancelled, not waited for.
        self._cancel_at_exit: list[Service[Any]] = [self.listener, self.clock_sampler]
        self._tasks: dict[Service[Any], asyncio.Task[None]] = {}
        self._stop_requested_at: float | None = None

    async def __aenter__(self) -> WorkerRuntime:
        global _current
        await self.pool.open(wait=False)
        await self.local.open()
        _current = self
        return self

    def start_loops(self, *extra: Service[Any]) -> None:
        """Run every loop as a task; `extra` services (Procrastinate's worker) are reported
        and stopped with them but run by the caller."""
        self.services += extra
        self._tasks = {
            service: asyncio.create_task(service.run(), name=service.config.name)
            for service in self.services
            if service is not self.local.heartbeat and service not in extra
        }

    def stop_loops(self) -> None:
        """First step of a graceful stop: no new dispatches; running batches carry on (with
        the database clock's last estimate)."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        for service in self.services:
            if service is not self.local.heartbeat:  # beats until the runner closes
                service.stop()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _current
        self.stop_loops()
        for service in self._cancel_at_exit:
            if service in self._tasks:
                self._tasks[service].cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.listener.close()
        # One shutdown budget for everything, counted from the stop request.
        spent = time.monotonic() - (self._stop_requested_at or time.monotonic())
        try:
            await self.local.close(
                grace_seconds=max(0.0, self.settings.scheduler_shutdown_timeout - spent)
            )
        finally:
            # Once this process starts no more runs: its rows are what the others' lock-free
            # starts count it by (docs/architecture.md, "The fleet seat").
            await self.reporter.forget()
        await self.target.aclose()
        await self.pool.close()
        _current = None


def current() -> WorkerRuntime:
    if _current is None:
        raise RuntimeError("no worker runtime: tasks run inside `procrastinate ... worker`")
    return _current
