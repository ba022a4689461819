"""The dispatcher loop that runs in every worker process (SPEC §4.2), and its LISTEN.

It sleeps until the earliest fire instant of any active schedule (measured on the database
clock), or until a NOTIFY says schedules changed, then runs dispatcher passes until nothing is
due. Any number of dispatchers may run at once: claims use SKIP LOCKED, so they share the work
and never wait on each other. There is no leader to elect or lose.

Both loops are supervised services (worker/service.py): a failed pass (the database away, a
job insert refused, anything else) is logged as `dispatch.error` and tried again within
`max_backoff`, so firing resumes about a second after the cause is gone (H2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app import tracing
from app.domain.incidents import DEFAULT_ALERTS, AlertPolicy
from app.services.dispatch import (
    PASS_ROW_BUDGET,
    WAITING_RECHECK_SECONDS,
    Lead,
    Lookahead,
    SlotCost,
    dispatch_once,
    next_wake,
)
from db.repositories import schedules as schedules_repo
from db.types import Conn, Pool
from worker.local import LocalRunner
from worker.service import Service, ServiceConfig, database_clock

log = logging.getLogger("worker.dispatcher")


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    batch_limit: int = 250  # schedules per transaction: the first runs start sooner
    row_budget: int = PASS_ROW_BUDGET  # slots a pass records, roughly (a catch-up's bound)
    # Dispatch this long before the instant (more when the second is crowded: as long as its
    # slots take, measured); the executor waits for the instant itself.
    lookahead: Lookahead = field(default_factory=Lookahead)
    max_sleep: float = 5.0  # upper bound on a sleep, in case a notification is lost
    error_backoff: float = 0.5
    max_backoff: float = 1.0  # retried at least this often while failing: resumes fast
    # M4: a schedule at the head that waits for an unfinished run is looked at again this
    # often (not in a busy loop); a pass that claimed nothing although something is due waits
    # `idle_pause` (a due row another transaction holds is skipped by the claim, not awaited).
    waiting_recheck: float = WAITING_RECHECK_SECONDS
    idle_pause: float = 0.05
    stale_floor: float = 30.0
    # SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE: catch-up fires beyond it are recorded `missed`.
    max_runs_per_minute: int | None = None
    # SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT: runs this process starts as it dispatches them stay
    # within it (app/services/dispatch.py); None: no cap.
    max_runs_in_flight: int | None = None
    alerts: AlertPolicy = DEFAULT_ALERTS  # slot.missed incidents (issue 12)

    def service(self) -> ServiceConfig:
        return ServiceConfig(
            "dispatch",
            period=self.max_sleep,
            backoff=self.error_backoff,
            max_backoff=self.max_backoff,
            stale_floor=self.stale_floor,
        )


class Dispatcher(Service[float]):
    """`run_once` dispatches until nothing is due and returns the seconds to wait."""

    def __init__(
        self,
        pool: Pool,
        config: DispatcherConfig | None = None,
        local: LocalRunner | None = None,
        clock: Callable[[], datetime | None] = database_clock,
        seat: UUID | None = None,
    ) -> None:
        """`local`: the runner that takes the jobs this dispatcher defers; their runs are
        inserted started while `seat`, the worker process's id, holds its seat in the fleet
        (docs/architecture.md, "The fleet seat")."""
        self.options = config or DispatcherConfig()
        super().__init__(self.options.service(), clock)
        self.pool = pool
        self.local = local
        self.seat = seat
        self.cost = SlotCost()  # measured by the passes, makes a crowded instant's lead
        self._lead = Lead(self.options.lookahead.base)  # for the coming passes (`next_wake`)
        self._dispatchers = 1

    async def run_once(self, now: datetime | None) -> float:
        async with self.pool.connection() as conn:
            claimed = await self._dispatch_until_done(conn, now)
            lead = self._lead
            wake = await next_wake(
                conn,
                self.options.lookahead,
                self.cost,
                now=now,
                recheck=self.options.waiting_recheck,
            )
        self._lead, self._dispatchers = wake.lead, wake.dispatchers
        if wake.delay is None:
            return self.options.max_sleep
        delay = wake.delay
        if claimed == 0 and delay == 0.0 and lead.covers(wake.lead):
            # Something is due by now, yet nothing could be claimed with the same lookahead:
            # a row locked by another transaction. Not a busy loop while it is held (M4).
            delay = self.options.idle_pause
        return min(delay, self.options.max_sleep)

    def pause_after(self, result: float) -> float:
        return result

    async def _dispatch_until_done(self, conn: Conn, now: datetime | None) -> int:
        """Passes until nothing is due; returns the schedules dispatched. The cost per slot is
        measured on the slots recorded, not the schedules: a schedule back from an outage
        records up to 1,000 slots in its pass, and counted as one slot it would make the next
        crowded instant's lead a hundred times too long."""
        claimed = slots = 0
        limit = self.options.batch_limit
        began = time.monotonic()
        while not self.stopping:
            started_ns = time.time_ns()
            stats = await dispatch_once(
                conn,
                limit=limit,
                now=now,
                local_worker_id=self.local.worker_id if self.local else None,
                local_capacity=self.local.free if self.local else 0,
                lookahead=self._lead.seconds,
                crowd=self._lead.crowd,
                max_runs_per_minute=self.options.max_runs_per_minute,
                alerts=self.options.alerts,
                max_runs_in_flight=self.options.max_runs_in_flight,
                seat=self.seat,
                row_budget=self.options.row_budget,
            )
            planned = stats.planned
            claimed += planned
            slots += sum(stats.statuses.values())
            if tracing.TRACER is not None and stats.claimed:  # an idle pass is no span
                tracing.TRACER.record_pass(
                    tracing.DispatchPass(
                        started_ns, time.time_ns(), planned, stats.fired, stats.jobs
                    )
                )
            if self.local and stats.local_jobs:
                self.local.start(stats.local_jobs)  # committed: run them here, now
            if stats.claimed:
                log.debug(
                    "dispatched",
                    extra={
                        "event": "dispatch.pass",
                        "claimed": planned,
                        "left": stats.left,
                        "fired": stats.fired,
                        "jobs": stats.jobs,
                    },
                )
            if stats.left:
                # A catch-up: the pass's row budget took `planned` schedules of its claim.
                # Claim about that many next, not 250 row locks (each a write) to plan a few.
                limit = min(self.options.batch_limit, max(1, 2 * planned))
            elif stats.claimed < limit:
                break
            else:
                limit = self.options.batch_limit
        self.cost.observe(time.monotonic() - began, slots, self._dispatchers)
        return claimed


class ChangeListener(Service[None]):
    """LISTEN for schedule changes on a dedicated connection and wake the dispatcher.

    A pass listens for up to `period` seconds on the connection it keeps; a lost connection
    fails the pass (logged, retried after the backoff) and the next pass connects again,
    waking the dispatcher since changes may have happened while nobody listened."""

    def __init__(
        self, url: str, on_change: Callable[[], None], config: ServiceConfig | None = None
    ) -> None:
        super().__init__(config or ServiceConfig("dispatch.listen", period=5.0))
        self.url = url
        self.on_change = on_change
        self._conn: Conn | None = None

    async def run_once(self, now: datetime | None) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, row_factory=dict_row
            )
            await schedules_repo.listen_for_changes(self._conn)
            self.on_change()
        try:
            async for _ in self._conn.notifies(timeout=self.config.period):
                self.on_change()
        except BaseException:
            await self.close()
            raise

    def pause_after(self, result: None) -> float:
        return 0.0  # listening is the wait

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.close()
        except Exception as exc:  # a broken connection: nothing is left to close cleanly
            log.debug(
                "listener connection closed with an error",
                extra={"event": "dispatch.listen_close_error", "error": type(exc).__name__},
            )
