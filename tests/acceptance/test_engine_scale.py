"""Three workers, 300 schedules at mixed cadences for half a minute: every slot fires exactly
once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from app.domain.cron import parse_cron
from app.domain.slots import slots_between
from app.domain.timezones import load_zone
from tests.support.db import create_schedule, wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess

CADENCES = ["* * * * * *", "*/2 * * * * *", "*/3 * * * * *", "*/5 * * * * *", "*/10 * * * * *"]
RUN_SECONDS = 32  # ~3,400 slots in the window (62 s took 70 s of `make test` for no more cover)


def test_three_workers_no_duplicate_no_missing_slot(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    for _ in range(3):
        start_worker(wait=False)
    schedules = [
        # allow_all: a slow moment must not turn a slot into an overlap skip; this test is
        # about each slot firing exactly once.
        create_schedule(
            database_url,
            workflow_id=f"wf-{n}",
            cron_expression=CADENCES[n % 5],
            timezone=["UTC", "Europe/Berlin", "Asia/Kathmandu"][n % 3],
            overlap_policy="allow_all",
        )
        for n in range(300)
    ]
    window_start = datetime.now(UTC) + timedelta(seconds=2)
    time.sleep(RUN_SECONDS)
    window_end = datetime.now(UTC) - timedelta(seconds=3)

    expected = {
        (str(s.id), slot)
        for s in schedules
        for slot in slots_between(
            parse_cron(s.cron_expression), load_zone(s.timezone), window_start, window_end
        )
    }

    def settled() -> bool:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM workflow_schedule_executions "
                "WHERE status IN ('pending', 'running', 'retrying') AND scheduled_at < %s",
                (window_end,),
            ).fetchone()
        return row is not None and row[0] == 0

    wait_until(settled, 30, "every run in the window to finish")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT trigger_id::text, scheduled_at, status FROM workflow_schedule_executions "
            "WHERE scheduled_at >= %s AND scheduled_at < %s",
            (window_start, window_end),
        ).fetchall()
    recorded = {(tid, at) for tid, at, _ in rows}
    assert len(rows) == len(recorded), "one row per slot"
    missing, extra = len(expected - recorded), len(recorded - expected)
    assert recorded == expected, f"missing: {missing}, extra: {extra}"
    assert Counter(status for _, _, status in rows) == {"succeeded": len(expected)}

    delivered = Counter(
        r.headers["idempotency-key"]
        for r in target.requests()
        if window_start <= datetime.fromisoformat(r.json()["scheduledAt"]) < window_end
    )
    assert len(delivered) == len(expected), "every slot reached the target"
    assert max(delivered.values()) == 1, "no slot was delivered twice"
