"""A worker killed while it holds a crowded instant's runs, dispatched ahead and prepared.

The runs of a crowded instant are dispatched long before it (worker/dispatcher.py, the lead
grows with the crowd) and wait in the worker that claimed them, `running`, their requests built
and signed. If that worker dies before the instant, nothing else holds them: its batch jobs are
`doing` under a worker identity that stops beating, and recovery must requeue them. Here one
worker holds every run of a 200-slot instant (a long lead, so the kill lands before the
instant), is killed with SIGKILL, and a second worker started afterwards must send every slot
exactly once: late (after recovery's stalled timeout), never before its instant, never twice.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from tests.faults.audit import create_schedules, scalar
from tests.faults.conftest import Workers
from tests.support.db import wait_until
from tests.support.target import RecordingTarget

SLOTS = 200
LEAD_SECONDS = 12.0  # every run is dispatched and held this long before the instant


def test_a_killed_workers_prepared_crowd_is_sent_once_by_another(
    database_url: str, workers: Workers, target: RecordingTarget
) -> None:
    holder = workers.start(SCHEDULER_DISPATCH_LEAD_SECONDS=str(LEAD_SECONDS))
    instant = int(time.time()) + 10
    cron = datetime.fromtimestamp(instant, UTC).strftime("%-S %-M %-H %-d %-m *")
    create_schedules(
        database_url,
        [{"workflow_id": f"crowd-{n}", "cron_expression": cron} for n in range(SLOTS)],
    )
    # Dispatched ahead and started by the holder: `running`, waiting for the instant.
    wait_until(
        lambda: (
            scalar(
                database_url,
                "SELECT count(*) FROM workflow_schedule_executions WHERE status = 'running'",
            )
            == SLOTS
        ),
        timeout=8,
        what="the holder to start every run ahead of the instant",
    )
    assert time.time() < instant - 0.5, "the kill must land before the instant"
    holder.kill()
    assert target.requests() == []
    workers.start()
    target.wait_for(lambda got: len(got) >= SLOTS, timeout=30)
    wait_until(
        lambda: (
            scalar(
                database_url,
                "SELECT count(*) FROM workflow_schedule_executions WHERE status = 'succeeded'",
            )
            == SLOTS
        ),
        timeout=10,
        what="every outcome recorded (after which nothing may send a slot again)",
    )
    got = target.requests()
    keys = Counter(r.headers["idempotency-key"] for r in got)
    assert len(keys) == SLOTS, "every slot sent"
    assert max(keys.values()) == 1, "no slot sent twice"
    assert min(r.at for r in got) >= instant, "none before its instant"
