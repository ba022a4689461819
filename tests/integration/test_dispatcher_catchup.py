"""The dispatcher loop through a catch-up (schedules back from an outage, ~1,000 slots each):
its passes stay within their row budget, claim about as many schedules as that budget takes
(not 250 row locks to plan a few), go on until every schedule is on time, and measure the cost
of a slot on the slots recorded."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from app.services.dispatch import SlotCost
from app.services.schedules import ScheduleService
from db.pool import create_pool
from db.types import Conn
from worker.dispatcher import Dispatcher, DispatcherConfig

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


async def test_a_catch_up_is_dispatched_a_budget_at_a_time(
    database_url: str, conn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    service = ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1))
    schedules = [
        await service.create(
            {"workflow_id": "wf", "cron_expression": "* * * * * *", "misfire_policy": "skip"}
        )
        for _ in range(12)
    ]
    later = T0 + timedelta(hours=2)  # ~1,061 slots each: 1,000 missed, 61 in the grace
    pool = create_pool(database_url, min_size=1, max_size=2)
    await pool.open()
    try:
        dispatcher = Dispatcher(pool, DispatcherConfig(batch_limit=10, row_budget=1_500))
        with caplog.at_level(logging.DEBUG, logger="worker.dispatcher"):
            await dispatcher.run_once(later)
    finally:
        await pool.close()
    passes = [
        (r.claimed, r.left)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", None) == "dispatch.pass"
    ]
    # 2 schedules fill the budget; after the first pass, 2 x 2 are claimed, not 10.
    assert passes == [(2, 8), (2, 2), (2, 2), (2, 2), (2, 2), (2, 0)]
    for schedule in schedules:
        stored = await ScheduleService(conn, "acme").get(schedule.id)
        assert stored.next_run_at is not None and stored.next_run_at > later
    # The cost of a slot is measured on the ~12,700 slots recorded (12 schedules would be
    # below the sample's minimum, and each "slot" ~1,000 times too dear for a crowd's lead).
    assert dispatcher.cost.seconds < SlotCost().seconds
