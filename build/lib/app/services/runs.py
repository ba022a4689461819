"""Runs asked for by people: run now, backfill (SPEC §4.5); and reading the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.clock import Clock
from app.domain.cron import parse_cron
from app.domain.execution import Execution
from app.domain.slots import slots_between
from app.domain.timezones import load_zone
from app.errors import ExecutionNotFound, ScheduleNotFound, ValidationFailed
from app.services.cursors import decode_cursor, encode_cursor
from app.services.executions import defer_runs
from db.repositories import executions as repo
from db.repositories import schedules as schedules_repo
from db.types import Conn

MAX_BACKFILL = 1_000


@dataclass(frozen=True, slots=True)
class BackfillResult:
    created: int
    existing: int
    execution_ids: list[UUID]


@dataclass(frozen=True, slots=True)
class ExecutionPage:
    items: list[Execution]
    next_cursor: str | None


class RunService:
    def __init__(self, conn: Conn, tenant: str, *, clock: Clock | None = None) -> None:
        self.conn, self.tenant, self.clock = conn, tenant, clock

    async def _now(self) -> datetime:
        return self.clock() if self.clock else await schedules_repo.db_now(self.conn)

    async def trigger(self, schedule_id: UUID) -> Execution:
        """Run now (trigger `manual`), paused or not; the run and its job commit together."""
        async with self.conn.transaction():
            schedule = await schedules_repo.get(self.conn, self.tenant, schedule_id)
            if schedule is None:
                raise ScheduleNotFound(f"no schedule with id {schedule_id}")
            now = await self._now()
            inserted = await repo.insert_many(
                self.conn,
                [
                    {
                        "trigger_id": schedule.id,
                        "workflow_id": schedule.workflow_id,
                        "tenant": schedule.tenant,
                        "scheduled_at": now,
                        "fire_at": now,
                        "status": "pending",
                        "trigger": "manual",
                        "input": schedule.input,
                    }
                ],
            )
            if not inserted:
                raise ValidationFailed("a manual run was already asked for at this instant")
            await defer_runs(self.conn, [inserted[0]["id"]])
            found = await repo.get(self.conn, self.tenant, inserted[0]["id"])
        assert found is not None
        return found

    async def backfill(self, schedule_id: UUID, start: datetime, end: datetime) -> BackfillResult:
        """Every slot in [start, end), at most 1,000; slots that already ran are left alone."""
        if end <= start:
            raise ValidationFailed("end: must be after start", field="end")
        async with self.conn.transaction():
            schedule = await schedules_repo.get(self.conn, self.tenant, schedule_id)
            if schedule is None:
                raise ScheduleNotFound(f"no schedule with id {schedule_id}")
            spec, zone = parse_cron(schedule.cron_expression), load_zone(schedule.timezone)
            slots = slots_between(spec, zone, start, end, limit=MAX_BACKFILL + 1)
            if len(slots) > MAX_BACKFILL:
                raise ValidationFailed(
                    f"end: the range holds more than {MAX_BACKFILL} slots; backfill it in "
                    f"smaller ranges (the first {MAX_BACKFILL} end at {slots[-2].isoformat()})",
                    field="end",
                )
            inserted = await repo.insert_many(
                self.conn,
                [
                    {
                        "trigger_id": schedule.id,
                        "workflow_id": schedule.workflow_id,
                        "tenant": schedule.tenant,
                        "scheduled_at": slot,
                        "status": "pending",
                        "trigger": "backfill",
                        "input": schedule.input,
                    }
                    for slot in slots
                ],
            )
            ids = [r["id"] for r in inserted]
            await defer_runs(self.conn, ids)
        return BackfillResult(len(ids), len(slots) - len(ids), ids)

    async def get(self, execution_id: UUID) -> Execution:
        found = await repo.get(self.conn, self.tenant, execution_id)
        if found is None:
            raise ExecutionNotFound(f"no execution with id {execution_id}")
        return found

    async def history(
        self,
        schedule_id: UUID,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
    ) -> ExecutionPage:
        """A schedule's executions, newest first. Answers 404 for another tenant's schedule."""
        if await schedules_repo.get(self.conn, self.tenant, schedule_id) is None:
            raise ScheduleNotFound(f"no schedule with id {schedule_id}")
        before = decode_cursor(cursor) if cursor else None
        rows = await repo.list_page(
            self.conn, self.tenant, schedule_id, limit=limit + 1, before=before, status=status
        )
        items = rows[:limit]
        more = len(rows) > limit
        return ExecutionPage(
            items, encode_cursor(items[-1].scheduled_at, items[-1].id) if more and items else None
        )
