"""Workers stopped while slots pass, then started: the history says what happened (SPEC §4.3).

The exact decisions of each policy are tested with injected time in
tests/integration/test_dispatch.py; this test runs the real processes through a real outage.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from tests.support.db import create_schedule, executions, wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess


def test_outage_leaves_every_slot_recorded(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    schedules = {
        policy: create_schedule(
            database_url,
            workflow_id=policy,
            cron_expression="* * * * * *",
            misfire_policy=policy,
            misfire_grace_seconds=1,
            overlap_policy="allow_all",
        )
        for policy in ("skip", "fire_once", "fire_all")
    }
    target.wait_for(lambda got: len(got) >= 6, timeout=15)
    assert worker.stop() == 0
    time.sleep(4)  # slots pass with no worker: the outage under test
    restarted_at = time.time()
    start_worker()
    target.wait_for(
        lambda got: (
            min(Counter(r.workflow_id for r in got if r.at > restarted_at).values(), default=0) >= 4
            and len({r.workflow_id for r in got if r.at > restarted_at}) == 3
        ),
        timeout=20,
    )

    for policy, schedule in schedules.items():
        rows = wait_until(
            lambda s=schedule: (
                (r := executions(database_url, s.id))
                and all(x["status"] not in ("pending", "running") for x in r[:-3])
                and r
            ),
            20,
            "the outage's rows to settle",
        )[:-3]
        slots = [r["scheduled_at"] for r in rows]
        assert all(b - a == timedelta(seconds=1) for a, b in zip(slots, slots[1:], strict=False)), (
            f"{policy}: every slot has exactly one row, no gap"
        )
        counts = Counter((r["status"], r["trigger"]) for r in rows)
        if policy == "skip":
            assert counts[("missed", "schedule")] >= 3 and counts[("succeeded", "catchup")] == 0
        elif policy == "fire_once":
            assert counts[("missed", "schedule")] >= 2
            assert counts[("succeeded", "catchup")] <= 1
        else:
            assert counts[("succeeded", "catchup")] >= 3, counts
            assert counts[("missed", "schedule")] == 0
