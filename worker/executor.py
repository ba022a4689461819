"""Runs one batch job: every run of the batch is attempted concurrently over HTTP.

Start (one short transaction) → the HTTP calls with no transaction open → finish (one short
transaction recording every outcome). A burst of 10,000 runs is 100 batch jobs, each sending
its 100 requests at once, instead of 10,000 Procrastinate jobs at a few hundred per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

import psycopg

from app.domain.delivery import Delivery, Outcome, build_delivery, target_url_for
from app.domain.policies import url_allowed
from app.services.executions import Attempt, finish_batch, start_batch
from app.settings import Settings
from db.types import Pool
from worker.db_clock import DbClock
from worker.http_target import HttpTarget
from worker.wire import Request

log = logging.getLogger("worker.executor")
FINISH_RETRY_FIRST_DELAY = 0.2
FINISH_RETRY_MAX_DELAY = 5.0
FINISH_CONNECT_TIMEOUT = 2.0
FINISH_COALESCE_SECONDS = 0.1


class BatchExecutor:
    def __init__(
        self, pool: Pool, target: HttpTarget, settings: Settings, clock: DbClock | None = None
    ) -> None:
        self.pool = pool
        self.target = target
        self.settings = settings
        self.clock = clock or DbClock()
        self._waiting: list[tuple[list[tuple[Attempt, Outcome]], asyncio.Future[None]]] = []
        self._flush: asyncio.Task[None] | None = None

    async def run_batch(self, execution_ids: Sequence[UUID]) -> None:
        async with self.pool.connection() as conn:
            attempts = await start_batch(
                conn, execution_ids, max_in_flight=self.settings.scheduler_tenant_max_runs_in_flight
            )
        claimed_at = time.monotonic()
        if not attempts:
            return
        # Every request is built and signed now, ahead of its instant; at the instant the
        # batch's requests go out back to back, woken by one timer per instant.
        ready = [(attempt, self._prepare(attempt)) for attempt in attempts]
        by_instant: dict[float, list[int]] = defaultdict(list)
        for index, (attempt, _) in enumerate(ready):
            by_instant[self._send_at(attempt, claimed_at)].append(index)
        tasks: list[asyncio.Task[Outcome] | None] = [None] * len(ready)
        try:
            for send_at, indexes in sorted(by_instant.items()):
                # A loop, because uvloop's timers may fire up to 1 ms early, and a request
                # must never leave before its slot.
                while (remaining := send_at - time.monotonic()) > 0:  # noqa: ASYNC110 - a timer
                    await asyncio.sleep(remaining)
                for index in indexes:
                    tasks[index] = asyncio.create_task(self._send(*ready[index]))
            outcomes = await asyncio.gather(*(task for task in tasks if task is not None))
        except BaseException:
            for task in tasks:
                if task is not None:
                    task.cancel()
            raise
        await self._record_soon(list(zip(attempts, outcomes, strict=True)))

    async def _record_soon(self, results: list[tuple[Attempt, Outcome]]) -> None:
        """Record with the other batches of this process that end within `FINISH_COALESCE_SECONDS`:
        the batches of one instant end within a few ms of each other, and one transaction for
        all of them costs PostgreSQL less than one each. It also moves the recording off the
        instant, where it competed with the sends still leaving (docs/benchmarks.md). Returns
        once this batch's outcomes are committed; raises if that failed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((results, done))
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_soon(), name="record-outcomes")
        await asyncio.shield(done)  # a cancelled batch's outcomes are still recorded

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FINISH_COALESCE_SECONDS)
        waiting, self._waiting, self._flush = self._waiting, [], None
        try:
            paused = await self._record([r for results, _ in waiting for r in results])
        except asyncio.CancelledError:  # the worker is stopping: the batches stop with it
            for _, done in waiting:
                done.cancel()
            raise
        except Exception as exc:
            for _, done in waiting:
                if not done.done():
                    done.set_exception(exc)
                    done.exception()  # a batch cancelled meanwhile never reads it
            return
        for _, done in waiting:
            if not done.done():
                done.set_result(None)
        for schedule_id in paused:
            log.warning(
                "schedule auto-paused after consecutive failures",
                extra={"event": "schedule.auto_paused", "schedule_id": str(schedule_id)},
            )

    async def _record(self, results: list[tuple[Attempt, Outcome]]) -> list[UUID]:
        """Record the outcomes, retrying while the database is away (a restart, a failover, a
        killed connection): the outcomes exist only in this process, and giving up means
        recovery sends every run of the batch again. Retries stop once other workers may
        think this one dead (`SCHEDULER_STALLED_AFTER`) and start recovering its runs; a
        finish that lands after such a recovery changes nothing (it names its attempt)."""
        deadline = time.monotonic() + self.settings.scheduler_stalled_after
        delay = FINISH_RETRY_FIRST_DELAY
        while True:
            try:
                # A short wait per try: the pool's own 30 s would spend the whole budget.
                async with self.pool.connection(timeout=FINISH_CONNECT_TIMEOUT) as conn:
                    return await finish_batch(conn, results)
            except psycopg.OperationalError as exc:
                if time.monotonic() + delay >= deadline:
                    raise
                log.warning(
                    "recording outcomes failed; retrying",
                    extra={
                        "event": "executor.finish_retry",
                        "error": type(exc).__name__,
                        "runs": len(results),
                        "retry_in_seconds": delay,
                    },
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, FINISH_RETRY_MAX_DELAY)

    def _send_at(self, attempt: Attempt, claimed_at: float) -> float:
        """When (`time.monotonic()`) to send: at once, or at the fire instant of a run
        dispatched ahead of its slot. The instant is on the database clock, so a worker whose
        own clock is off still sends on time (worker/db_clock.py); until the process has read
        that clock, the wait is counted from the claim (`started_at` is the database's now
        then), which is late by the claim's round trip."""
        if attempt.fire_at is None or attempt.fire_at <= attempt.started_at:
            return claimed_at
        at = self.clock.monotonic_at(attempt.fire_at)
        if at is None:
            return claimed_at + (attempt.fire_at - attempt.started_at).total_seconds()
        return at

    def _prepare(self, attempt: Attempt) -> tuple[Delivery, Request | Outcome]:
        delivery = build_delivery(
            execution_id=attempt.execution_id,
            trigger_id=attempt.trigger_id,
            workflow_id=attempt.workflow_id,
            scheduled_at=attempt.scheduled_at,
            attempt=attempt.attempt,
            trigger=attempt.trigger,
            input=attempt.input,
            url=target_url_for(
                attempt.workflow_id, attempt.target_url, self.settings.scheduler_target_url
            ),
            secret=self.settings.internal_api_secret.get_secret_value(),
            timestamp=int(time.time()),
            tenant_keys=attempt.tenant_keys,
        )
        if attempt.target_url is not None and not url_allowed(
            attempt.target_url, self.settings.target_allowlist
        ):
            return delivery, Outcome(
                kind="failed",
                http_status=None,
                workflow_run_id=None,
                retry_after_seconds=None,
                duration_ms=0,
                error="targetUrl is not (or no longer) allowed by SCHEDULER_TARGET_ALLOWLIST",
            )
        return delivery, self.target.prepare(delivery)

    async def _send(
        self, attempt: Attempt, prepared: tuple[Delivery, Request | Outcome]
    ) -> Outcome:
        delivery, request = prepared
        if isinstance(request, Outcome):
            return request
        return await self.target.send(delivery, attempt.timeout_seconds, request)
