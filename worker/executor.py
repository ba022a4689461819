"""Runs one batch job: every run of the batch is attempted concurrently over HTTP.

Start (one short transaction) → the HTTP calls with no transaction open → each outcome recorded
when its own answer arrives. A burst of 10,000 runs is 100 batch jobs, each sending its 100
requests at once, instead of 10,000 Procrastinate jobs at a few hundred per second.

A batch's runs are independent once sent (issue 10, H1): an outcome goes to the coalescing
recorder (`FINISH_COALESCE_SECONDS`) the moment its answer is in, whatever its batch-mates do,
so a run answered in milliseconds is never held `running` by a batch-mate whose target is slow.
`launch` returns once every request of the batch is out (`Batch.wait` for its recording): the
caller's capacity counts batches still waiting for their instant, not answers still to come
(those are bounded by the HTTP client, per origin and in all).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

import psycopg
from procrastinate.exceptions import ConnectorException

from app import tracing
from app.domain.callbacks import callback_token, result_url
from app.domain.outcome import Outcome
from app.domain.target_urls import url_allowed
from app.domain.webhook import InvalidSigningKey, build_delivery, target_url_for
from app.services.attempts import CLAIMS_AT_ONCE, Answer, Attempt, finish_batch, start_batch
from app.services.outcomes import load_callback_key
from app.settings import Settings
from db.types import Pool
from worker.collector import CrowdPause, freeze_startup_heap
from worker.db_clock import DbClock
from worker.http.target import HttpTarget, secrets_of
from worker.http.wire import Request
from worker.releaser import Releaser

log = logging.getLogger("worker.executor")
FINISH_RETRY_FIRST_DELAY = 0.2
FINISH_RETRY_MAX_DELAY = 5.0
FINISH_CONNECT_TIMEOUT = 2.0
FINISH_COALESCE_SECONDS = 0.1
FINISH_HOLD_SECONDS = 5.0
"""The longest outcomes wait for a crowded instant's sends to be out before being recorded."""

Prepared = tuple[tuple[bytes, ...], Request | Outcome]
"""What a run holds until its instant: the secrets to scrub from its answer, and its request's
bytes (or the outcome that replaces it). Not the delivery: 1.5 of a prepared run's 3.5 KB."""


class Batch:
    """The runs of one batch whose outcomes are not recorded yet.

    `recorded` resolves once every outcome is committed, or fails with the recording's error
    (the runs are then recovered by the orphan sweep, as for any failed batch job)."""

    __slots__ = ("unrecorded", "recorded", "sends", "unsent", "out", "cancelled")

    def __init__(self, execution_ids: Sequence[UUID]) -> None:
        self.unrecorded: set[UUID] = set(execution_ids)
        self.recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sends: list[asyncio.Task[None]] = []
        self.unsent = 0  # requests still waiting for their instant (or a sender) to go out
        self.out: asyncio.Future[None] | None = None  # resolved when `unsent` falls to 0
        self.cancelled = False
        if not self.unrecorded:
            self.recorded.set_result(None)

    async def wait(self) -> None:
        """Until every outcome is recorded. Cancelled (a worker stopping past its grace), it
        cancels the requests still in flight: their runs stay `running` under this batch's job
        and are recovered with it; outcomes already in are still recorded."""
        try:
            await asyncio.shield(self.recorded)
        except asyncio.CancelledError:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Stop the requests still in flight and drop those not sent yet (their runs stay
        `running`, to be recovered)."""
        self.cancelled = True
        for send in self.sends:
            send.cancel()
        self._sent(self.unsent)

    def _sent(self, count: int) -> None:
        self.unsent -= count
        if self.unsent <= 0 and self.out is not None and not self.out.done():
            self.out.set_result(None)

    def _done_with(self, execution_id: UUID) -> None:
        self.unrecorded.discard(execution_id)
        if not self.unrecorded and not self.recorded.done():
            self.recorded.set_result(None)

    def _failed(self, exc: BaseException) -> None:
        if not self.recorded.done():
            if isinstance(exc, asyncio.CancelledError):
                self.recorded.cancel()
            else:
                self.recorded.set_exception(exc)
                self.recorded.exception()  # a batch nobody waits on any more never reads it


class BatchExecutor:
    def __init__(
        self,
        pool: Pool,
        target: HttpTarget,
        settings: Settings,
        clock: DbClock | None = None,
        *,
        worker_process: bool = False,
        seat: UUID | None = None,
    ) -> None:
        """`worker_process` (not tests): the process's garbage collector is the executor's to
        tune (worker/collector.py); a test's process keeps its collector as it is. `seat`: the
        worker process's id (worker/health.py); while that process holds its seat in the
        fleet, runs of a tenant far below its cap start without the tenant's lock (without a
        seat, always under it; docs/architecture.md, "The fleet seat")."""
        self.pool = pool
        self.target = target
        self.settings = settings
        self.clock = clock or DbClock()
        self.seat = seat
        self._freeze_pending = worker_process
        self._waiting: list[tuple[Answer, Batch]] = []
        self._callback_key: str | None = None  # read from the database before the first batch
        self._flush: asyncio.Task[None] | None = None  # the flush still collecting outcomes
        self._flushes: set[asyncio.Task[None]] = set()  # every flush not yet finished
        # The others wait here, not in the connection pool's queue; the lock-free start's
        # racing bound counts on this (app/services/attempts.py `racing_starts`).
        self._claims = asyncio.Semaphore(CLAIMS_AT_ONCE)
        self._releaser = Releaser(
            self._attempt,
            max_sending=target.max_connections * 2,
            crowd_pause=CrowdPause() if worker_process else None,
            paced_origins=target.paced_origins,
            paced=settings.scheduler_target_connections,
        )

    async def run_batch(self, execution_ids: Sequence[UUID]) -> None:
        """Attempt the runs; returns once every outcome is recorded (raises if that failed)."""
        batch = await self.launch(execution_ids)
        await batch.wait()

    async def launch(self, execution_ids: Sequence[UUID]) -> Batch:
        """Claim the runs and send each at its instant; returns once every request is out.

        Every request is built and signed ahead of its instant; at the instant the batch's
        requests go out back to back, woken by one timer per instant. Each outcome is handed
        to the recorder when it arrives."""
        if self._freeze_pending:  # the process has started: what it holds now stays
            self._freeze_pending = False
            freeze_startup_heap()
        # A few claims at a time: a crowded instant launches hundreds of batches at once, and
        # each waiting in the pool's queue put the recording (2 s per try), the heartbeat and
        # the dispatcher behind all of them: at 100,000 slots the recording gave up after
        # 30 s, and recovery sent 1,200 runs again that had been answered.
        async with self._claims, self.pool.connection() as conn:
            attempts = await start_batch(
                conn,
                execution_ids,
                max_in_flight=self.settings.scheduler_tenant_max_runs_in_flight,
                seat=self.seat,
            )
        claimed_at = time.monotonic()
        batch = Batch([attempt.execution_id for attempt in attempts])
        if not attempts:
            return batch
        if self.clock.error_bound is None:
            await self._read_clock()
        if self._callback_key is None:
            await self._read_callback_key()
        ready = [(attempt, self._prepare(attempt)) for attempt in attempts]
        by_instant: dict[float, list[tuple[Attempt, Prepared]]] = defaultdict(list)
        for attempt, prepared in ready:
            by_instant[self._send_at(attempt, claimed_at)].append((attempt, prepared))
        out = asyncio.get_running_loop().create_future()
        batch.unsent = len(ready)
        batch.out = out
        for send_at, items in by_instant.items():
            self._releaser.add(send_at, [(attempt, prepared, batch) for attempt, prepared in items])
        try:
            await asyncio.shield(out)
        except BaseException:
            batch.cancel()
            raise
        return batch

    async def _attempt(self, attempt: Attempt, prepared: Prepared, batch: Batch) -> None:
        try:
            if tracing.TRACER is None:
                outcome = await self._send(attempt, prepared)
            else:
                outcome = await self._traced_send(tracing.TRACER, attempt, prepared)
        except Exception as exc:  # a bug, not the target: still a recorded attempt, not a loop
            log.exception(
                "sending a run failed",
                extra={"event": "executor.send_error", "execution_id": str(attempt.execution_id)},
            )
            outcome = self._unsendable(f"internal error while sending: {type(exc).__name__}")
        # When the answer arrived, on the database clock: the run's finishedAt, whatever the
        # recording's coalescing window adds. The clock is an estimate (± its error bound):
        # never before the attempt could start.
        answered_at = max(
            self.clock.now(), attempt.started_at, attempt.fire_at or attempt.started_at
        )
        self._waiting.append((Answer(attempt, outcome, answered_at), batch))
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_soon(), name="record-outcomes")
            self._flushes.add(self._flush)
            self._flush.add_done_callback(self._flushes.discard)

    async def _traced_send(
        self, tracer: tracing.Tracer, attempt: Attempt, prepared: Prepared
    ) -> Outcome:
        """`_send` inside the attempt's span (same trace and span ids as its traceparent)."""
        span = tracer.start_delivery(
            tracing.RunRef(
                execution_id=attempt.execution_id,
                schedule_id=attempt.trigger_id,
                tenant=attempt.tenant,
                scheduled_at=attempt.scheduled_at,
                workflow_id=attempt.workflow_id,
                attempt=attempt.attempt,
            )
        )
        outcome = self._unsendable("the attempt was interrupted")
        try:
            outcome = await self._send(attempt, prepared)
        finally:  # cancelled (a worker stopping): the span still ends
            span.finish(outcome)
        return outcome

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Wait (up to `timeout`) for the outcomes already in to be recorded: a worker that
        stops records what it has before it closes its pool, rather than leave those runs to
        be sent again by recovery."""
        self._releaser.stopping()
        if self._flushes:
            await asyncio.wait(set(self._flushes), timeout=timeout)

    async def _flush_soon(self) -> None:
        """Record the outcomes that arrive within `FINISH_COALESCE_SECONDS` in one transaction:
        the runs of one instant are answered within a few ms of each other, and one transaction
        for all of them costs PostgreSQL less than one each. It also moves the recording off the
        instant, where it competed with the sends still leaving (docs/benchmarks.md). This task
        is never cancelled with a batch: outcomes that are in get recorded."""
        await asyncio.sleep(FINISH_COALESCE_SECONDS)
        # While an instant's requests are still leaving, recording would take the CPU (here
        # and in PostgreSQL) from them: the outcomes wait, up to a bound, for the sends.
        await self._releaser.drained(FINISH_HOLD_SECONDS)
        waiting, self._waiting, self._flush = self._waiting, [], None
        try:
            paused = await self._record([answer for answer, _ in waiting])
        except BaseException as exc:  # cancelled: the worker is stopping, the batches with it
            for _, batch in waiting:
                batch._failed(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for answer, batch in waiting:
            batch._done_with(answer.attempt.execution_id)
        for schedule_id in paused:
            log.warning(
                "schedule auto-paused after consecutive failures",
                extra={"event": "schedule.auto_paused", "schedule_id": str(schedule_id)},
            )

    async def _record(self, results: list[Answer]) -> list[UUID]:
        """Record the outcomes, retrying while the database is away (a restart, a failover, a
        killed connection): the outcomes exist only in this process, and giving up means
        recovery sends every run again. Retries stop once other workers may think this one
        dead (`SCHEDULER_STALLED_AFTER`) and start recovering its runs; a finish that lands
        after such a recovery changes nothing (it names its attempt)."""
        deadline = time.monotonic() + self.settings.scheduler_stalled_after
        delay = FINISH_RETRY_FIRST_DELAY
        while True:
            try:
                # A short wait per try: the pool's own 30 s would spend the whole budget.
                async with self.pool.connection(timeout=FINISH_CONNECT_TIMEOUT) as conn:
                    return await finish_batch(conn, results, alerts=self.settings.alert_policy)
            except (psycopg.OperationalError, ConnectorException) as exc:
                if not _transient(exc) or time.monotonic() + delay >= deadline:
                    raise
                log.warning(
                    "recording outcomes failed; retrying",
                    extra={
                        "event": "executor.finish_retry",
                        "error": type(exc.__cause__ or exc).__name__,
                        "runs": len(results),
                        "retry_in_seconds": delay,
                    },
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, FINISH_RETRY_MAX_DELAY)

    async def _read_clock(self) -> None:
        """The first batches of a process may come before the clock's first sample: read it
        now, so they too are sent and signed on the database clock."""
        try:
            await self.clock.sample(self.pool)
        except Exception as exc:  # the fallback (this process's clock) still works
            log.warning(
                "reading the database clock failed",
                extra={"event": "executor.clock_error", "error": type(exc).__name__},
            )

    async def _read_callback_key(self) -> None:
        """The key of the callback tokens (app/domain/callbacks.py), once per process."""
        async with self.pool.connection() as conn:
            self._callback_key = await load_callback_key(conn)

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

    def _prepare(self, attempt: Attempt) -> Prepared:
        """The attempt's request, or the outcome that replaces it. Never raises: the run is
        `running` already, and an error here must end in a recorded attempt, not in a failed
        job that recovery would start again and again (issue 10, M2)."""
        try:
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
                # Signed on the database clock: receivers compare it with theirs (M3).
                timestamp=int(self.clock.unix_now()),
                tenant_keys=attempt.tenant_keys,
                callback_url=result_url(self.settings.public_url, attempt.execution_id),
                callback_token=(
                    callback_token(self._callback_key, attempt.execution_id)
                    if self._callback_key
                    else None
                ),
            )
        except Exception as exc:
            log.warning(
                "a request could not be built",
                extra={
                    "event": "executor.prepare_error",
                    "execution_id": str(attempt.execution_id),
                    "error": type(exc).__name__,
                },
            )
            if isinstance(exc, InvalidSigningKey):  # the domain names no variable: say which
                key = "INTERNAL_API_SECRET" if attempt.tenant_keys is None else "tenant key"
                return (), self._unsendable(f"the request could not be built: {key}: {exc}")
            return (), self._unsendable(f"the request could not be built: {exc}")
        if attempt.target_url is not None and not url_allowed(
            attempt.target_url, self.settings.target_allowlist
        ):
            return (), self._unsendable(
                "targetUrl is not (or no longer) allowed by SCHEDULER_TARGET_ALLOWLIST"
            )
        return secrets_of(delivery), self.target.prepare(delivery)

    def _unsendable(self, error: str) -> Outcome:
        """A final failure of an attempt that was never sent (the secret is never in it)."""
        secret = self.settings.internal_api_secret.get_secret_value()
        if secret:
            error = error.replace(secret, "[redacted]")
        return Outcome(
            kind="failed",
            http_status=None,
            workflow_run_id=None,
            retry_after_seconds=None,
            duration_ms=0,
            error=error[:2048],
        )

    async def _send(self, attempt: Attempt, prepared: Prepared) -> Outcome:
        secrets, request = prepared
        if isinstance(request, Outcome):
            return request
        return await self.target.send_prepared(request, secrets, attempt.timeout_seconds)


def _transient(exc: BaseException) -> bool:
    """A database error worth another try: the connection or the server went away. Procrastinate
    wraps psycopg's errors of the jobs it defers in the finish (retries, buffered runs) in
    `ConnectorException`; its cause says which kind it is (issue 10, L6)."""
    if isinstance(exc, ConnectorException):
        exc = exc.__cause__ or exc
    return isinstance(exc, psycopg.OperationalError)
