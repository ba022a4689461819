"""Executions asked for by people: run now, backfill (SPEC §4.5); and reading a schedule's
history of executions. Their attempts are app/services/attempts.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from app.clock import Clock
from app.domain.cron import parse_cron
from app.domain.execution import Execution
from app.domain.quotas import TenantQuotas
from app.domain.schedule import Schedule
from app.domain.slots import slots_between
from app.domain.timezones import load_zone
from app.errors import Conflict, ExecutionNotFound, ScheduleNotFound, ValidationFailed
from app.services import quotas
from app.services.attempts import defer_runs
from app.services.cursors import decode_cursor, encode_cursor
from db.clock import db_now
from db.repositories import executions as repo
from db.repositories import schedules as schedules_repo
from db.repositories.executions import NewRun
from db.types import Conn

MAX_BACKFILL = 1_000
MANUAL_SLOT_TRIES = 100
"""Manual runs of one schedule asked for within one millisecond that each get their own."""
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class BackfillResult:
    created: int
    existing: int
    execution_ids: list[UUID]


@dataclass(frozen=True, slots=True)
class ExecutionPage:
    items: list[Execution]
    next_cursor: str | None


class ExecutionService:
    def __init__(
        self,
        conn: Conn,
        tenant: str,
        *,
        clock: Clock | None = None,
        quotas: TenantQuotas | None = None,
    ) -> None:
        self.conn, self.tenant, self.clock = conn, tenant, clock
        self.quotas = quotas or TenantQuotas()

    async def _now(self) -> datetime:
        return self.clock() if self.clock else await db_now(self.conn)

    async def trigger(self, schedule_id: UUID) -> Execution:
        """Run now (trigger `manual`), paused or not; the run and its job commit together.

        The run's `scheduled_at` is the current instant cut to the millisecond, the precision
        of its Idempotency-Key (`<triggerId>:<scheduledAt>`); a second manual run in the same
        millisecond takes the next free one, so no two runs of a schedule share a key. The run
        counts against the tenant's runs-per-minute and runs-in-flight quotas (429 beyond).
        """
        async with self.conn.transaction():
            schedule = await schedules_repo.get(self.conn, self.tenant, schedule_id)
            if schedule is None:
                raise ScheduleNotFound.with_id(schedule_id)
            now = await self._now()
            await quotas.check_run_room(self.conn, self.tenant, self.quotas, 1, now)
            execution_id = await self._insert_manual(schedule, now)
            await defer_runs(self.conn, [execution_id])
            await quotas.charge_runs(self.conn, self.tenant, self.quotas, 1, now)
            found = await repo.get(self.conn, self.tenant, execution_id)
        assert found is not None
        return found

    async def _insert_manual(self, schedule: Schedule, now: datetime) -> UUID:
        at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        for _ in range(MANUAL_SLOT_TRIES):
            inserted = await repo.insert_many(self.conn, [NewRun.manual(schedule, at)])
            if inserted:
                return inserted[0].id
            at += _MILLISECOND
        raise Conflict(
            f"{MANUAL_SLOT_TRIES} manual runs of this schedule were already asked for at this "
            "instant; retry in a moment"
        )

    async def backfill(self, schedule_id: UUID, start: datetime, end: datetime) -> BackfillResult:
        """Every slot in [start, end), at most 1,000; slots that already ran are left alone.

        `end` may not be later than now (database clock): a future slot run now would take its
        slot key and its real fire would later be dropped. The whole request counts against the
        tenant's runs-per-minute quota: it is refused whole when its slots do not fit.
        """
        if end <= start:
            raise ValidationFailed("end: must be after start", field="end")
        async with self.conn.transaction():
            schedule = await schedules_repo.get(self.conn, self.tenant, schedule_id)
            if schedule is None:
                raise ScheduleNotFound.with_id(schedule_id)
            now = await self._now()
            if end > now:
                raise ValidationFailed(
                    f"end: {end.isoformat()} is in the future (now is {now.isoformat()}); "
                    "a backfill runs past slots only, future ones fire on schedule",
                    field="end",
                )
            spec, zone = parse_cron(schedule.cron_expression), load_zone(schedule.timezone)
            slots = slots_between(spec, zone, start, end, limit=MAX_BACKFILL + 1)
            if len(slots) > MAX_BACKFILL:
                raise ValidationFailed(
                    f"end: the range holds more than {MAX_BACKFILL} slots; backfill it in "
                    f"smaller ranges (the first {MAX_BACKFILL} end at {slots[-2].isoformat()})",
                    field="end",
                )
            await quotas.check_run_room(self.conn, self.tenant, self.quotas, len(slots), now)
            inserted = await repo.insert_many(
                self.conn, [NewRun.backfill(schedule, slot) for slot in slots]
            )
            ids = [r.id for r in inserted]
            await defer_runs(self.conn, ids)
            await quotas.charge_runs(self.conn, self.tenant, self.quotas, len(ids), now)
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
            raise ScheduleNotFound.with_id(schedule_id)
        # The slot is unique per schedule: the cursor's id is not needed to resume.
        before = decode_cursor(cursor)[0] if cursor else None
        rows = await repo.list_page(
            self.conn, self.tenant, schedule_id, limit=limit + 1, before=before, status=status
        )
        items = rows[:limit]
        more = len(rows) > limit
        return ExecutionPage(
            items, encode_cursor(items[-1].scheduled_at, items[-1].id) if more and items else None
        )
