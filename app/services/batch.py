"""Many schedules in one transaction: `POST /api/schedules/batch` and `scheduler import`.

Each item is what `POST /api/schedules` takes, and goes through the same rules as one create or
one update (`validate`, `plan`, the quota on schedules stored, the ids owned by other tenants),
but the rows are read, inserted and written a batch at a time: one locking read, one INSERT for
every new schedule, the updates pipelined. An item that is wrong gets its own error; the others
are written, together, in one transaction.

Upsert by id: an item whose id names one of the tenant's schedules updates it with the fields the
item sends (the others keep their values); an item without an id, or with an id nobody uses,
creates a schedule (fields it omits take their defaults). An update that changes nothing writes
nothing (`unchanged`: no new version, no NOTIFY).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from app.domain.schedule import NewSchedule, Schedule, changes_of, new_schedule, validate
from app.errors import Conflict, SchedulerError
from app.services.quotas import reserve_schedule
from app.services.schedules import ScheduleService, planned, replanned
from db.clock import db_now
from db.repositories import schedules as repo

MAX_BATCH = 1_000
"""Items per batch: big enough to create 100,000 schedules in 100 requests, small enough that one
transaction holds its row locks for a fraction of a second."""

Outcome = Literal["created", "updated", "unchanged", "error"]


@dataclass(frozen=True, slots=True)
class Draft:
    """One item of a batch, already valid by its type: the fields it sends (as
    `ScheduleService.create` takes them, `id` included when it has one)."""

    index: int
    fields: NewSchedule


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one item: `error` is set exactly when `outcome` is "error"."""

    index: int
    id: UUID | None
    outcome: Outcome
    error: SchedulerError | None = None


@dataclass(slots=True)
class _Plan:
    creates: list[tuple[int, Schedule]] = dataclasses.field(default_factory=list)
    updates: list[tuple[int, Schedule]] = dataclasses.field(default_factory=list)
    results: dict[int, ItemResult] = dataclasses.field(default_factory=dict)

    def fail(self, index: int, schedule_id: UUID | None, error: SchedulerError) -> None:
        self.results[index] = ItemResult(index, schedule_id, "error", error)


async def upsert_batch(service: ScheduleService, drafts: Sequence[Draft]) -> list[ItemResult]:
    """Create or update every draft in one transaction of `service`'s connection; results in
    the drafts' order. Raises QuotaExceeded (nothing written) when the creates would take the
    tenant over its quota of schedules stored."""
    if len(drafts) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} items per batch")  # the API answers 422 first
    conn, tenant = service.conn, service.tenant
    ids = [draft.fields.get("id") or uuid4() for draft in drafts]
    async with conn.transaction():
        now = service.clock() if service.clock else await db_now(conn)
        existing = {s.id: s for s in await repo.get_many_for_update(conn, tenant, ids)}
        foreign = await repo.ids_owned_elsewhere(
            conn, tenant, [i for i in ids if i not in existing]
        )
        work = _Plan()
        first_index: dict[UUID, int] = {}
        for draft, schedule_id in zip(drafts, ids, strict=True):
            if schedule_id in first_index:
                work.fail(
                    draft.index,
                    schedule_id,
                    Conflict(
                        f"id: {schedule_id} is also the id of item {first_index[schedule_id]} "
                        "of this batch",
                        field="id",
                    ),
                )
                continue
            first_index[schedule_id] = draft.index
            if schedule_id in foreign:
                work.fail(draft.index, schedule_id, _taken(schedule_id))
                continue
            try:
                _add(work, service, draft, existing.get(schedule_id), schedule_id, now)
            except SchedulerError as exc:
                work.fail(draft.index, schedule_id, exc)
        await reserve_schedule(conn, tenant, service.quotas, count=len(work.creates))
        if work.creates:
            inserted = await repo.insert_many(conn, [s for _, s in work.creates], now)
            for index, schedule in work.creates:
                if schedule.id in inserted:
                    work.results[index] = ItemResult(index, schedule.id, "created")
                else:  # taken meanwhile by a concurrent create
                    work.fail(index, schedule.id, _taken(schedule.id))
        written = await repo.update_many(conn, [s for _, s in work.updates], now)
        assert written == len(work.updates)  # the rows are locked: no version can have moved
        for index, schedule in work.updates:
            work.results[index] = ItemResult(index, schedule.id, "updated")
    return [work.results[draft.index] for draft in drafts]


def _add(
    work: _Plan,
    service: ScheduleService,
    draft: Draft,
    current: Schedule | None,
    schedule_id: UUID,
    now: datetime,
) -> None:
    """Validate one draft against the single-schedule rules and queue its write."""
    if current is None:
        schedule = new_schedule(service.tenant, schedule_id, draft.fields)
        validate(schedule, now, service.allowlist)
        work.creates.append((draft.index, planned(schedule, now)))
        return
    changed = dataclasses.replace(current, **changes_of(draft.fields))
    validate(changed, now, service.allowlist)
    if changed == current:
        work.results[draft.index] = ItemResult(draft.index, schedule_id, "unchanged")
    else:
        work.updates.append((draft.index, replanned(current, changed, now)))


def _taken(schedule_id: UUID) -> Conflict:
    # The words of a single create with a taken id (POST /api/schedules answers 409 with them).
    return Conflict(f"id: a schedule with id {schedule_id} already exists", field="id")
