"""Direct database helpers for tests: create schedules through the service, read history."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.domain.schedule import Schedule
from app.services.schedules import ScheduleService


def create_schedule(
    database_url: str,
    tenant: str = "acme",
    clock: Callable[[], datetime] | None = None,
    **fields: Any,
) -> Schedule:
    async def create() -> Schedule:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            return await ScheduleService(conn, tenant, clock=clock).create(fields)

    return asyncio.run(create())


def get_schedule(database_url: str, schedule_id: UUID | str, tenant: str = "acme") -> Schedule:
    async def load() -> Schedule:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            return await ScheduleService(conn, tenant).get(UUID(str(schedule_id)))

    return asyncio.run(load())


def executions(database_url: str, trigger_id: UUID | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        if trigger_id is None:
            return conn.execute(
                "SELECT * FROM workflow_schedule_executions ORDER BY scheduled_at"
            ).fetchall()
        return conn.execute(
            "SELECT * FROM workflow_schedule_executions WHERE trigger_id = %s "
            "ORDER BY scheduled_at",
            (trigger_id,),
        ).fetchall()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
