"""Background upkeep in every worker: recover what crashes left behind (SPEC §5).

Every pass (each `interval` seconds, with jitter so workers spread out):
1. Jobs of dead workers (no heartbeat for `stalled_after` seconds) go back to the queue, so a
   run whose worker was killed mid-request is sent again, with the same Idempotency-Key.
2. Unfinished runs whose job is gone or ended get a new job (`recover_orphans`).
No lock is taken: every step is idempotent and safe to run in several workers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

import psycopg
from procrastinate import App

from app.services.executions import recover_orphans
from app.services.stats import fold_deltas
from db.types import Pool

log = logging.getLogger("worker.maintenance")


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    interval: float = 5.0
    stalled_after: float = 30.0  # Procrastinate marks a worker stalled after 30 s (3 heartbeats)
    orphan_min_age: float = 5.0
    fold_interval: float = 1.0


class Maintenance:
    def __init__(self, app: App, pool: Pool, config: MaintenanceConfig | None = None) -> None:
        self.app = app
        self.pool = pool
        self.config = config or MaintenanceConfig()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> tuple[int, int]:
        """One pass; returns (stalled jobs requeued, orphaned runs recovered)."""
        stalled = list(
            await self.app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=self.config.stalled_after
            )
        )
        for job in stalled:
            assert job.id is not None
            # Another worker may requeue the same job first: then this one is refused.
            with contextlib.suppress(Exception):
                await self.app.job_manager.retry_job(job)
        async with self.pool.connection() as conn:
            recovered = await recover_orphans(conn, min_age_seconds=self.config.orphan_min_age)
        if stalled or recovered:
            log.warning(
                "recovered work left by a crash",
                extra={
                    "event": "maintenance.recovered",
                    "stalled_jobs": len(stalled),
                    "orphaned_runs": recovered,
                },
            )
        return len(stalled), recovered

    async def fold_stats(self) -> None:
        """Fold statistics deltas every second (one worker at a time does it)."""
        while not self._stopping.is_set():
            try:
                async with self.pool.connection() as conn:
                    while (moved := await fold_deltas(conn)) and moved >= 50_000:
                        pass
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "statistics fold failed; retrying",
                    extra={"event": "stats.fold_error", "error": type(exc).__name__},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.config.fold_interval)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "maintenance pass failed; retrying",
                    extra={"event": "maintenance.error", "error": type(exc).__name__},
                )
            pause = self.config.interval * random.uniform(0.8, 1.2)  # noqa: S311 - spreading
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)
