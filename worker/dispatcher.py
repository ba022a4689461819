"""The dispatcher loop that runs in every worker process (SPEC §4.2).

It sleeps until the earliest fire instant of any active schedule (measured on the database
clock), or until a NOTIFY says schedules changed, then runs dispatcher passes until nothing is
due. Any number of dispatchers may run at once: claims use SKIP LOCKED, so they share the work
and never wait on each other. There is no leader to elect or lose.

Database errors do not end the loop: it logs, waits a little and tries again, so a PostgreSQL
restart only pauses firing (the pool replaces broken connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from app.services.dispatch import Lookahead, PassStats, dispatch_once, next_wake
from db.types import Pool
from worker.local import LocalRunner

log = logging.getLogger("worker.dispatcher")
CHANNEL = "workflow_schedules_changed"


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    batch_limit: int = 250  # schedules per transaction: the first runs start sooner
    # Dispatch this long before the instant (more when the second is crowded); the executor
    # waits for the instant itself.
    lookahead: Lookahead = field(default_factory=Lookahead)
    max_sleep: float = 5.0  # upper bound on a sleep, in case a notification is lost
    error_backoff: float = 1.0
    # SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE: catch-up fires beyond it are recorded `missed`.
    max_runs_per_minute: int | None = None


class Dispatcher:
    def __init__(
        self,
        pool: Pool,
        listen_url: str,
        config: DispatcherConfig | None = None,
        on_pass: Callable[[PassStats], None] | None = None,
        local: LocalRunner | None = None,
    ) -> None:
        self.pool = pool
        self.listen_url = listen_url
        self.config = config or DispatcherConfig()
        self.on_pass = on_pass
        self.local = local
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._ahead = self.config.lookahead.base  # for the coming pass, set by `next_wake`

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run_once(self) -> float | None:
        """Dispatch until nothing is due; return the seconds until the next fire instant."""
        async with self.pool.connection() as conn:
            while not self._stopping.is_set():
                stats = await dispatch_once(
                    conn,
                    limit=self.config.batch_limit,
                    local_worker_id=self.local.worker_id if self.local else None,
                    local_capacity=self.local.free if self.local else 0,
                    lookahead=self._ahead,
                    max_runs_per_minute=self.config.max_runs_per_minute,
                )
                if self.local and stats.local_jobs:
                    self.local.start(stats.local_jobs)  # committed: run them here, now
                if stats.claimed and self.on_pass:
                    self.on_pass(stats)
                if stats.claimed:
                    log.debug(
                        "dispatched",
                        extra={
                            "event": "dispatch.pass",
                            "claimed": stats.claimed,
                            "fired": stats.fired,
                            "jobs": stats.jobs,
                        },
                    )
                if stats.claimed < self.config.batch_limit:
                    break
            delay, self._ahead = await next_wake(conn, self.config.lookahead)
            return delay

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="dispatcher-listen")
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    delay = await self.run_once()
                except (psycopg.Error, OSError, TimeoutError) as exc:
                    log.warning(
                        "dispatch failed; retrying",
                        extra={"event": "dispatch.error", "error": type(exc).__name__},
                    )
                    delay = self.config.error_backoff
                sleep = (
                    self.config.max_sleep if delay is None else min(delay, self.config.max_sleep)
                )
                if sleep > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=sleep)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        """LISTEN for schedule changes on a dedicated connection; reconnect when it drops."""
        while not self._stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.listen_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # changes may have happened while we were not listening
                    async for _ in conn.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "schedule change listener lost its connection; reconnecting",
                    extra={"event": "dispatch.listen_error", "error": type(exc).__name__},
                )
                await asyncio.sleep(self.config.error_backoff)
