"""The operator's terminal views (`scheduler status`, `scheduler history ID`), across tenants."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.domain.execution import Execution
from app.domain.schedule import Schedule
from app.errors import ScheduleNotFound
from app.services.stats import StatsService, Summary
from db.repositories import executions as executions_repo
from db.repositories import schedules as repo
from db.types import Conn


@dataclass(frozen=True, slots=True)
class StatusRow:
    schedule: Schedule
    summary: Summary


async def status(conn: Conn, tenant: str | None = None, limit: int = 200) -> list[StatusRow]:
    schedules = await repo.list_admin(conn, tenant, limit)
    summaries = await StatsService(conn, tenant or "").summaries([s.id for s in schedules])
    return [StatusRow(s, summaries[s.id]) for s in schedules]


async def history(
    conn: Conn, schedule_id: UUID, limit: int = 20
) -> tuple[Schedule, list[Execution]]:
    schedule = await repo.get_any(conn, schedule_id)
    if schedule is None:
        raise ScheduleNotFound.with_id(schedule_id)
    rows = await executions_repo.list_page(
        conn, schedule.tenant, schedule.id, limit=limit, before=None, status=None
    )
    return schedule, rows
