"""Retention (SPEC §6): history older than SCHEDULER_HISTORY_RETENTION_DAYS goes, and so do
Procrastinate's finished jobs, in batches of `batch` rows, each its own short transaction.

The history's range partitions are retired whole by the partition maintenance
(app/services/history_partitions.py); the batches here delete only the rows of the DEFAULT
partition (slots no range partition covers) and what hangs off runs that are gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.repositories import retention as repo
from db.repositories import stats as stats_repo
from db.types import Conn

BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Pruned:
    executions: int
    jobs: int


async def prune(
    conn: Conn, retention_days: int, batch: int = BATCH, *, now: datetime | None = None
) -> Pruned:
    """`now`: the current instant (None: the database clock)."""
    executions = jobs = 0
    while (n := await repo.prune_executions(conn, retention_days, batch, now)) > 0:
        executions += n
        if n < batch:
            break
    while (n := await repo.prune_jobs(conn, batch)) > 0:
        jobs += n
        if n < batch:
            break
    # After the runs: a spec goes when no unfinished run names it, an id when nothing of it
    # is left.
    while await repo.prune_specs(conn, batch, now) == batch:
        pass
    while await repo.release_owners(conn, batch) == batch:
        pass
    await stats_repo.prune_zero_values(conn)
    return Pruned(executions, jobs)
