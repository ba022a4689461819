"""The dispatchers' wake-up (migration 0029): a change that can make a schedule due sooner
notifies `workflow_schedules_changed`; a dispatcher pass's advance, a pause and a delete do
not (they leave less to do, never something sooner)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app.services.dispatch import dispatch_once
from app.services.schedules import ScheduleService
from db.repositories import schedules as schedules_repo
from db.types import Conn

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
MARKER = "the test's marker"


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[Conn]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await schedules_repo.listen_for_changes(conn)  # type: ignore[arg-type]
        yield conn  # type: ignore[misc]


async def _notified(conn: Conn, listener: Conn) -> int:
    """The notifications `listener` got since the last call: PostgreSQL delivers them in the
    order their transactions committed, so a marker notified now comes after all of them."""
    await conn.execute("SELECT pg_notify('workflow_schedules_changed', %s)", (MARKER,))
    count = 0
    async for notify in listener.notifies(timeout=10.0):
        if notify.payload == MARKER:
            return count
        count += 1
    raise AssertionError("the marker was not delivered within 10 s")


async def test_only_a_change_that_can_make_a_schedule_due_sooner_wakes_the_dispatchers(
    conn: Conn, listener: Conn
) -> None:
    now = [T0 - timedelta(seconds=1)]
    schedules = ScheduleService(conn, "acme", clock=lambda: now[0])
    created = await schedules.create({"workflow_id": "wf", "cron_expression": "0 * * * *"})
    assert await _notified(conn, listener) == 1, "a new schedule"

    await dispatch_once(conn, now=T0 + timedelta(milliseconds=5))  # 12:00 fired, next 13:00
    assert (await schedules.get(created.id)).next_run_at == T0 + timedelta(hours=1)
    assert await _notified(conn, listener) == 0, "an advance moves a schedule later"

    now[0] = T0 + timedelta(minutes=1)
    await schedules.update(created.id, {"cron_expression": "0 */2 * * *"})  # 14:00
    assert await _notified(conn, listener) == 0, "its next fire instant moved later"
    await schedules.update(created.id, {"cron_expression": "*/5 * * * *"})  # 12:05
    assert await _notified(conn, listener) == 1, "its next fire instant moved earlier"

    await schedules.pause(created.id, "maintenance")
    assert await _notified(conn, listener) == 0, "a pause"
    await schedules.resume(created.id, None)
    assert await _notified(conn, listener) == 1, "a resume"
    await schedules.delete(created.id)
    assert await _notified(conn, listener) == 0, "a delete"
