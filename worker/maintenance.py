"""Background upkeep in every worker: recover what crashes left behind (SPEC §5), fold stats.

`Recovery`, every pass (each `interval` seconds, with jitter so workers spread out):
1. Jobs of dead workers (no heartbeat for `stalled_after` seconds) go back to the queue, so a
   run whose worker was killed mid-request is sent again, with the same Idempotency-Key.
2. Unfinished runs whose job is gone or ended get a new job (`recover_orphans`), reading one
   window of in-flight runs (by when they were made) a pass, so a cycle over them all takes
   several passes however many one tenant keeps in flight.
No lock is taken: every step is idempotent and safe to run in several workers at once.

`StatsFold` folds statistics deltas every `SCHEDULER_STATS_FOLD_INTERVAL` seconds across the
deployment (one worker at a time does it; each asks every second).

`CompletionTimeouts` ends `timed_out` every second the accepted runs whose workflow neither
reported nor sent a heartbeat by their deadline (issue 11). Any number of workers sweep at
once (SKIP LOCKED); a report that arrives after the deadline applies the same rule itself, so
how late a sweep comes changes nothing about how a run ends.

`HistoryPartitions` makes the history's partitions ahead and retires whole the partitions that
retention has passed (docs/history-partitions.md), every minute. One worker at a time does
the DDL (advisory locks); the others' passes find nothing to do.

All are supervised services (worker/service.py): a pass that fails, e.g. on Procrastinate's
pool timeout after a database outage longer than 30 s, is logged and tried again; the loop
does not end (H2: it used to, and the next crash's runs then stayed `running` for good).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from procrastinate import App
from procrastinate.exceptions import ConnectorException

from app.domain.history_partitions import PartitionPolicy
from app.domain.incidents import DEFAULT_ALERTS, AlertPolicy
from app.services.attempts import OrphanCursor, recover_orphans
from app.services.history_partitions import HistoryPass, maintain
from app.services.outcomes import SWEEP_LIMIT, time_out_due
from db.repositories.stats import fold
from db.types import Pool
from worker.service import Service, ServiceConfig

log = logging.getLogger("worker.maintenance")
FOLD_ROUND = 50_000  # deltas per fold transaction; a full round means more are waiting


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    interval: float = 5.0
    stalled_after: float = 30.0  # Procrastinate marks a worker stalled after 30 s (3 heartbeats)
    orphan_min_age: float = 5.0
    fold_interval: float = 1.0  # how often each worker asks whether it is time to fold
    fold_every: float = 5.0  # the deployment's cadence (SCHEDULER_STATS_FOLD_INTERVAL)
    timeout_interval: float = 1.0
    stale_floor: float = 30.0
    alerts: AlertPolicy = DEFAULT_ALERTS  # run.failed of runs that time out (issue 12)
    history: PartitionPolicy = PartitionPolicy()
    history_interval: float = 60.0
    history_retention_days: int = 30
    history_lock_timeout: float = 0.1


@dataclass(frozen=True, slots=True)
class Recovered:
    stalled_jobs: int
    orphaned_runs: int


class Recovery(Service[Recovered]):
    def __init__(self, app: App, pool: Pool, config: MaintenanceConfig | None = None) -> None:
        self.options = config or MaintenanceConfig()
        super().__init__(
            ServiceConfig(
                "recovery",
                period=self.options.interval,
                jitter=0.2,
                max_backoff=self.options.interval,
                stale_floor=self.options.stale_floor,
            )
        )
        self.app = app
        self.pool = pool
        self.orphans = OrphanCursor()  # each pass reads the window of in-flight runs after it

    async def run_once(self, now: datetime | None) -> Recovered:
        stalled = list(
            await self.app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=self.options.stalled_after
            )
        )
        for job in stalled:
            assert job.id is not None
            try:
                await self.app.job_manager.retry_job(job)
            except ConnectorException as exc:
                if not isinstance(exc.__cause__, psycopg.errors.RaiseException):
                    raise  # the database itself: the pass fails and is tried again
                # Another worker requeued it first: it is no longer `doing`, and
                # Procrastinate's function refuses (RAISE). Nothing left to do here.
                log.info(
                    "stalled job already requeued by another worker",
                    extra={"event": "recovery.requeue_skipped", "job_id": job.id},
                )
        async with self.pool.connection() as conn:
            recovered = await recover_orphans(
                conn, min_age_seconds=self.options.orphan_min_age, cursor=self.orphans
            )
        if stalled or recovered:
            log.warning(
                "recovered work left by a crash",
                extra={
                    "event": "maintenance.recovered",
                    "stalled_jobs": len(stalled),
                    "orphaned_runs": recovered,
                },
            )
        return Recovered(len(stalled), recovered)


class StatsFold(Service[int]):
    def __init__(self, pool: Pool, config: MaintenanceConfig | None = None) -> None:
        options = config or MaintenanceConfig()
        super().__init__(
            ServiceConfig(
                "stats.fold",
                period=options.fold_interval,
                max_backoff=5.0,
                stale_floor=options.stale_floor,
            )
        )
        self.pool = pool
        self.every = options.fold_every

    async def run_once(self, now: datetime | None) -> int:
        """When the deployment's last fold is `fold_every` seconds old, fold until fewer than
        a full round is pending; returns the deltas folded (0 when it was not the time)."""
        folded = 0
        async with self.pool.connection() as conn:
            moved = await fold(conn, FOLD_ROUND, every=self.every, now=now)
            while moved and moved >= FOLD_ROUND:  # more are waiting: on at once
                folded += moved
                moved = await fold(conn, FOLD_ROUND, now=now)
            folded += moved or 0
        return folded


class CompletionTimeouts(Service[int]):
    def __init__(self, pool: Pool, config: MaintenanceConfig | None = None) -> None:
        options = config or MaintenanceConfig()
        super().__init__(
            ServiceConfig(
                "outcomes.timeouts",
                period=options.timeout_interval,
                jitter=0.2,
                max_backoff=5.0,
                stale_floor=options.stale_floor,
            )
        )
        self.pool = pool
        self.alerts = options.alerts

    async def run_once(self, now: datetime | None) -> int:
        """Time out what is due, a round at a time; returns how many runs timed out."""
        total = 0
        async with self.pool.connection() as conn:
            while (ended := await time_out_due(conn, now=now, alerts=self.alerts)) >= SWEEP_LIMIT:
                total += ended
            total += ended
        if total:
            log.info(
                "accepted runs timed out",
                extra={"event": "outcomes.timed_out", "runs": total},
            )
        return total


class HistoryPartitions(Service[HistoryPass]):
    def __init__(self, pool: Pool, config: MaintenanceConfig | None = None) -> None:
        self.options = config or MaintenanceConfig()
        super().__init__(
            ServiceConfig(
                "history.partitions",
                period=self.options.history_interval,
                jitter=0.2,
                max_backoff=self.options.history_interval,
                stale_floor=self.options.stale_floor,
            )
        )
        self.pool = pool

    async def run_once(self, now: datetime | None) -> HistoryPass:
        """Create ahead, retire what retention has passed. A retirement reads its partition
        whole (minutes at 432 M rows a day): the pass counts as alive meanwhile."""
        async with self.pool.connection() as conn:
            return await self.keep_alive(
                maintain(
                    conn,
                    now,
                    self.options.history,
                    self.options.history_retention_days,
                    self.options.history_lock_timeout,
                )
            )


def history_policy(partition_hours: int, ahead: int) -> PartitionPolicy:
    return PartitionPolicy(width=timedelta(hours=partition_hours), ahead=ahead)
