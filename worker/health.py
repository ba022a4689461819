"""Reports this process's supervised loops to the database (issue 10, H2).

Every `period` (the heartbeat interval), one statement writes when each loop last completed a
pass; `scheduler check` and /metrics read it from any process. The reporter is a supervised
loop too (`health.report`): when its own row goes stale the process is silent, dead or hung.
A stopping worker deletes its rows; a killed one's are forgotten after
FORGET_AFTER_SECONDS (app/services/health.py).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from app.domain.loop_health import REPORT_LOOP, LoopReport, Seat, WorkerProcess
from app.services.health import FLEET_LOCK_TIMEOUT_SECONDS, forget_process, report_loops
from db.types import Pool
from worker.service import Health, Service, ServiceConfig

log = logging.getLogger("worker.health")


def this_process() -> WorkerProcess:
    return WorkerProcess(uuid.uuid4(), socket.gethostname(), os.getpid())


class HealthReporter(Service[None]):
    def __init__(
        self,
        pool: Pool,
        services: Callable[[], Sequence[Service[Any]]],
        period: float,
        stale_floor: float = 30.0,
        process: WorkerProcess | None = None,
        fleet_lock_timeout: float = FLEET_LOCK_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            ServiceConfig(REPORT_LOOP, period=period, max_backoff=period, stale_floor=stale_floor)
        )
        self.pool = pool
        self.services = services
        self.process = process or this_process()
        self.fleet_lock_timeout = fleet_lock_timeout
        self._seated_before = False
        self._refused = False

    async def run_once(self, now: datetime | None) -> None:
        at = time.monotonic()
        loops = [_report(s.health(), at) for s in self.services() if s is not self]
        own = self.health()
        loops.append(_report(own, at, success_age=0.0))  # this pass is the success
        async with self.pool.connection() as conn:
            seat = await report_loops(
                conn, self.process, loops, now, lock_timeout=self.fleet_lock_timeout
            )
        if seat is Seat.TAKEN:
            # Again: its reports had failed (or were refused their seat) for half their stale
            # time, and the runs it started meanwhile took the per-tenant lock (slower, never
            # over a cap).
            log.log(
                logging.WARNING if self._seated_before else logging.INFO,
                "this process starts runs without the per-tenant lock from now on%s",
                " again (its seat had lapsed)" if self._seated_before else "",
                extra={"event": "health.fleet_seat_taken", "worker_process": str(self.process)},
            )
            self._seated_before = True
        elif seat is Seat.REFUSED and not self._refused:
            log.warning(
                "the fleet lock was not had within %g s (held by a start without the per-tenant "
                "lock, another process's join or stop); this process starts its runs under the "
                "tenants' locks until it gets its seat",
                self.fleet_lock_timeout,
                extra={"event": "health.fleet_seat_refused", "worker_process": str(self.process)},
            )
        self._refused = seat is Seat.REFUSED

    async def forget(self) -> None:
        """Delete this process's rows (a clean stop), and with them its seat in the fleet: a
        start of this process after it takes the per-tenant lock. A failure is logged, not
        raised."""
        try:
            async with self.pool.connection(timeout=5) as conn:
                await forget_process(conn, self.process, lock_timeout=self.fleet_lock_timeout)
        except Exception as exc:
            log.warning(
                "loop health rows left behind; they are forgotten later",
                extra={"event": "health.forget_error", "error": type(exc).__name__},
            )


def _report(health: Health, at: float, success_age: float | None = None) -> LoopReport:
    if success_age is None and health.last_success_at is not None:
        success_age = max(0.0, at - health.last_success_at)
    return LoopReport(
        loop=health.name,
        stale_after=health.stale_after,
        started_age=max(0.0, at - health.started_at),
        success_age=success_age,
        failures=health.failures,
        last_error=health.last_error,
    )
