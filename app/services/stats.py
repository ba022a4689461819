"""Statistics of a schedule, of a tenant, and of a page of schedules (SPEC §6).

Reads are O(metrics), not O(history): they add folded values and the few deltas not folded
yet (see migration 0003), which every worker's maintenance loop folds (db/repositories/stats.py:
`fold`; one at a time does the work).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from app.domain.execution import Execution
from app.domain.schedule import Schedule
from app.domain.stats import Stats, from_metrics, success_rate
from db.repositories import executions as executions_repo
from db.repositories import schedules as schedules_repo
from db.repositories import stats as repo
from db.types import Conn


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    success_rate: float | None


@dataclass(frozen=True, slots=True)
class Overall:
    stats: Stats
    schedules: dict[str, int]  # by state


class StatsService:
    def __init__(self, conn: Conn, tenant: str) -> None:
        self.conn, self.tenant = conn, tenant

    async def of_schedule(self, schedule: Schedule) -> Stats:
        return from_metrics(await repo.of_schedule(self.conn, schedule.id))

    async def latest_execution(self, schedule: Schedule) -> Execution | None:
        return await executions_repo.latest(self.conn, self.tenant, schedule.id)

    async def summaries(self, schedule_ids: Sequence[UUID]) -> dict[UUID, Summary]:
        rows = await repo.summaries(self.conn, schedule_ids)
        found = {
            sid: Summary(t.total, success_rate(t.succeeded, t.failed)) for sid, t in rows.items()
        }
        return {sid: found.get(sid, Summary(0, None)) for sid in schedule_ids}

    async def overall(self) -> Overall:
        metrics = await repo.of_tenant(self.conn, self.tenant)
        counts = await schedules_repo.counts_by_state(self.conn, self.tenant)
        by_state = {state: counts.get(state, 0) for state in ("active", "paused", "ended")}
        return Overall(from_metrics(metrics), by_state)
