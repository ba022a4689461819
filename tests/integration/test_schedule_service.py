"""The schedule service on a real database, with time injected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from app.errors import Conflict, InvalidCron, NeverFires, ScheduleNotFound, VersionMismatch
from app.services.schedules import ScheduleService
from db.repositories import schedules as schedules_repo

NOW = datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[ScheduleService]:
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        yield ScheduleService(conn, "acme", clock=lambda: NOW)


async def test_create_computes_next_slot(service: ScheduleService) -> None:
    created = await service.create({"workflow_id": "wf", "cron_expression": "*/5 * * * *"})
    assert created.state == "active"
    assert created.next_run_at == datetime(2026, 3, 7, 12, 5, tzinfo=UTC)
    assert created.next_fire_at == created.next_run_at
    assert created.version == 1


async def test_jitter_is_deterministic_and_bounded(service: ScheduleService) -> None:
    sid = uuid4()
    created = await service.create(
        {"id": sid, "workflow_id": "wf", "cron_expression": "0 * * * *", "jitter_seconds": 30}
    )
    assert created.next_run_at is not None and created.next_fire_at is not None
    offset = created.next_fire_at - created.next_run_at
    assert timedelta(0) <= offset < timedelta(seconds=30)
    again = await service.update(sid, {"jitter_seconds": 30, "cron_expression": "0 */2 * * *"})
    assert again.next_fire_at is not None and again.next_run_at is not None
    assert again.next_fire_at - again.next_run_at == offset


async def test_dst_next_slot_in_new_york(service: ScheduleService) -> None:
    created = await service.create(
        {"workflow_id": "wf", "cron_expression": "30 2 * * *", "timezone": "America/New_York"}
    )
    # 2026-03-08 02:30 does not exist in New York: it fires at the transition, 03:00 EDT.
    assert created.next_run_at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


async def test_non_timing_change_keeps_the_due_slot(service: ScheduleService) -> None:
    created = await service.create({"workflow_id": "wf", "cron_expression": "*/5 * * * *"})
    changed = await service.update(created.id, {"input": {"x": 1}, "max_attempts": 5})
    assert changed.next_run_at == created.next_run_at
    assert changed.version == created.version + 1
    with pytest.raises(VersionMismatch):
        await service.update(created.id, {"max_attempts": 2}, expected_version=created.version)


async def test_validation_and_isolation(service: ScheduleService) -> None:
    with pytest.raises(InvalidCron, match="hour: 24 is out of range 0-23"):
        await service.create({"workflow_id": "wf", "cron_expression": "0 24 * * *"})
    with pytest.raises(NeverFires):
        await service.create({"workflow_id": "wf", "cron_expression": "0 0 31 4 *"})
    created = await service.create({"workflow_id": "wf", "cron_expression": "@daily"})
    other = ScheduleService(service.conn, "globex", clock=lambda: NOW)
    with pytest.raises(ScheduleNotFound):
        await other.get(created.id)
    with pytest.raises(ScheduleNotFound):
        await other.pause(created.id, "nope")
    with pytest.raises(Conflict):
        await other.create({"id": created.id, "workflow_id": "x", "cron_expression": "@daily"})


async def test_end_and_remaining_runs(service: ScheduleService) -> None:
    ended = await service.create(
        {"workflow_id": "wf", "cron_expression": "@hourly", "end_at": NOW + timedelta(minutes=10)}
    )
    assert ended.state == "ended" and ended.next_run_at is None
    extended = await service.update(ended.id, {"end_at": NOW + timedelta(hours=3)})
    assert extended.state == "active"
    assert extended.next_run_at == datetime(2026, 3, 7, 13, 0, tzinfo=UTC)
    exactly_at_end = await service.create(
        {
            "workflow_id": "wf",
            "cron_expression": "@hourly",
            "end_at": datetime(2026, 3, 7, 13, 0, tzinfo=UTC),
        }
    )
    assert exactly_at_end.state == "active", "endAt is inclusive"


async def test_a_column_a_later_revision_adds_does_not_break_the_reads(
    service: ScheduleService,
) -> None:
    """A process keeps reading schedules while a later revision adds a column (a rolling
    upgrade, docs/operations.md): a schedule is built from the columns this version knows, by
    the API's reads and by the dispatcher's claim alike."""
    created = await service.create({"workflow_id": "wf", "cron_expression": "*/5 * * * *"})
    await service.conn.execute(
        "ALTER TABLE workflow_schedules ADD COLUMN added_later text NOT NULL DEFAULT 'x'"
    )
    assert await service.get(created.id) == created
    assert [s.id for s in (await service.list(limit=10)).items] == [created.id]
    assert created.next_fire_at is not None
    claimed = await schedules_repo.claim_due(service.conn, 10, now=created.next_fire_at)
    assert [(c.schedule, c.active_runs, c.buffered_runs) for c in claimed] == [(created, 0, 0)]
