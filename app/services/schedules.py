"""Schedule management: each public method is one transaction (SPEC §2).

Every change recomputes the next slot through `app.domain.schedule.plan` in the same transaction
that writes the row, so a worker never sees a schedule without a correct next slot.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from app.clock import Clock
from app.domain.incidents import DEFAULT_ALERTS, KINDS, AlertPolicy, IncidentEvent, Kind
from app.domain.quotas import TenantQuotas
from app.domain.schedule import (
    TIMING_FIELDS,
    NewSchedule,
    Schedule,
    ScheduleChanges,
    changes_of,
    new_schedule,
    plan,
    validate,
)
from app.errors import Conflict, ScheduleNotFound, ValidationFailed, VersionMismatch
from app.services.cursors import decode_cursor, encode_cursor
from app.services.incidents import record_events
from app.services.quotas import reserve_schedule
from db.clock import db_now
from db.repositories import executions as executions_repo
from db.repositories import schedules as repo
from db.types import Conn

_ENDED = {
    False: "the schedule has ended: there is nothing to pause",
    True: "the schedule has ended: change endAt or remainingRuns to extend it",
}
"""Why an ended schedule cannot be paused (False) or resumed (True)."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Schedule]
    next_cursor: str | None


def planned(schedule: Schedule, now: datetime) -> Schedule:
    """`schedule` with the state and next slot `plan` gives it as of `now`."""
    result = plan(schedule, now)
    return dataclasses.replace(
        schedule,
        state=result.state,
        next_run_at=result.next_run_at,
        next_fire_at=result.next_fire_at,
    )


def replanned(current: Schedule, changed: Schedule, now: datetime) -> Schedule:
    """`changed`, planned again only when a timing field moved (other changes keep the slot)."""
    moved = any(getattr(current, name) != getattr(changed, name) for name in TIMING_FIELDS)
    return planned(changed, now) if moved else changed


class ScheduleService:
    """A tenant's schedules, on one connection."""

    def __init__(
        self,
        conn: Conn,
        tenant: str,
        *,
        target_allowlist: tuple[str, ...] = (),
        clock: Clock | None = None,
        quotas: TenantQuotas | None = None,
        alerts: AlertPolicy = DEFAULT_ALERTS,
    ) -> None:
        self.conn = conn
        self.alerts = alerts
        self.tenant = tenant
        self.allowlist = target_allowlist
        self.clock = clock
        self.quotas = quotas or TenantQuotas()

    async def _now(self) -> datetime:
        return self.clock() if self.clock else await db_now(self.conn)

    def _planned(self, schedule: Schedule, now: datetime) -> Schedule:
        return planned(schedule, now)

    async def create(self, fields: NewSchedule) -> Schedule:
        """Create a schedule from `fields` (defaults fill the rest; a new id unless given)."""
        async with self.conn.transaction():
            now = await self._now()
            schedule = new_schedule(self.tenant, fields.get("id") or uuid4(), fields)
            validate(schedule, now, self.allowlist)
            await reserve_schedule(self.conn, self.tenant, self.quotas)
            created = await repo.insert(self.conn, self._planned(schedule, now), now)
            if created is None:
                raise Conflict(f"id: a schedule with id {schedule.id} already exists", field="id")
            return created

    async def get(self, schedule_id: UUID) -> Schedule:
        found = await repo.get(self.conn, self.tenant, schedule_id)
        if found is None:
            raise ScheduleNotFound.with_id(schedule_id)
        return found

    async def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        workflow_id: str | None = None,
        state: str | None = None,
    ) -> Page:
        after = decode_cursor(cursor) if cursor else None
        if workflow_id is not None and (len(workflow_id) > 200 or "\x00" in workflow_id):
            # No schedule can have such an id (and PostgreSQL text cannot hold NUL at all).
            raise ValidationFailed(
                "workflowId: must be at most 200 characters, without NUL (\\u0000) characters",
                field="workflowId",
            )
        rows = await repo.list_page(
            self.conn,
            self.tenant,
            limit=limit + 1,
            after=after,
            workflow_id=workflow_id,
            state=state,
        )
        more = len(rows) > limit
        items = rows[:limit]
        if not (more and items):
            return Page(items, None)
        last = items[-1]
        assert last.created_at is not None  # stored rows always have it
        return Page(items, encode_cursor(last.created_at, last.id))

    async def _locked(self, schedule_id: UUID, expected_version: int | None) -> Schedule:
        current = await repo.get_for_update(self.conn, self.tenant, schedule_id)
        if current is None:
            raise ScheduleNotFound.with_id(schedule_id)
        if expected_version is not None and expected_version != current.version:
            raise VersionMismatch(
                f"version {expected_version} is stale: the schedule is at version "
                f"{current.version}; fetch it again and retry"
            )
        return current

    async def _write(self, current: Schedule, changed: Schedule, now: datetime) -> Schedule:
        written = await repo.update(self.conn, replanned(current, changed, now), now)
        assert written is not None  # the row is locked, so its version cannot have moved
        if written.enabled and not current.enabled:
            # Resumed (by resume, or a PATCH of `enabled`): its schedule.paused incident ends.
            await self._resolve(current.id, ("schedule.paused",))
        return written

    async def _resolve(self, schedule_id: UUID, kinds: tuple[Kind, ...]) -> None:
        events = [IncidentEvent(schedule_id, kind, "resolve") for kind in kinds]
        await record_events(
            self.conn, events, self.alerts, now=self.clock() if self.clock else None
        )

    async def update(
        self, schedule_id: UUID, changes: ScheduleChanges, expected_version: int | None = None
    ) -> Schedule:
        """Apply `changes` (only the fields sent); the next slot moves only when timing fields
        change."""
        async with self.conn.transaction():
            now = await self._now()
            current = await self._locked(schedule_id, expected_version)
            changed = dataclasses.replace(current, **changes)
            validate(changed, now, self.allowlist)
            return await self._write(current, changed, now)

    async def pause(
        self, schedule_id: UUID, note: str | None, expected_version: int | None = None
    ) -> Schedule:
        """Stop firing: no slots until resumed. Pausing a paused schedule updates its note."""
        return await self.set_enabled(schedule_id, False, note, expected_version)

    async def resume(
        self, schedule_id: UUID, note: str | None, expected_version: int | None = None
    ) -> Schedule:
        """Fire again from now on; slots that passed while paused are not caught up."""
        return await self.set_enabled(schedule_id, True, note, expected_version)

    async def set_enabled(
        self,
        schedule_id: UUID,
        enabled: bool,
        note: str | None,
        expected_version: int | None = None,
    ) -> Schedule:
        """Resume (`enabled`) or pause, with `note`; Conflict once the schedule has ended."""
        async with self.conn.transaction():
            now = await self._now()
            current = await self._locked(schedule_id, expected_version)
            if current.state == "ended":
                raise Conflict(_ENDED[enabled])
            changed = dataclasses.replace(current, enabled=enabled, pause_note=note)
            return await self._write(current, changed, now)

    async def delete(self, schedule_id: UUID, expected_version: int | None = None) -> None:
        async with self.conn.transaction():
            await self._locked(schedule_id, expected_version)
            # Nothing of a deleted schedule stays open (its incidents are kept, resolved).
            await self._resolve(schedule_id, KINDS)
            await repo.delete(self.conn, self.tenant, schedule_id)
            # Nothing of it is sent after the delete (M1: its runs were the id's, not the
            # next owner's); a run in the middle of an attempt finishes that attempt.
            await executions_repo.cancel_waiting(self.conn, self.tenant, schedule_id)

    async def register(self, fields: NewSchedule) -> tuple[Schedule, bool]:
        """Upsert by id (the replaced system's `register`); returns (schedule, created)."""
        schedule_id = fields["id"]
        # One outer transaction (create/update nest as savepoints): the row lock taken here
        # makes two concurrent registers of one id run one after the other. Only the tenant's
        # own row is locked; another tenant's id is seen without a lock (and answered 409).
        async with self.conn.transaction():
            existing = await repo.get_for_update(self.conn, self.tenant, schedule_id)
            if existing is None:
                if await repo.id_taken(self.conn, schedule_id):
                    raise Conflict(f"triggerId: {schedule_id} is already in use", field="triggerId")
                return await self.create(fields), True
            return await self.update(schedule_id, changes_of(fields)), False
