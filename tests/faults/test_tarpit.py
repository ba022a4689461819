"""A tenant's silent target holds nobody else (issue 10, point 1; review finding H1).

Tenant B: every-second schedules (overlapPolicy allow_all, timeoutSeconds 3600) whose
allowlisted targetUrl accepts connections and never answers (a tarpit). Tenant A: every-second
schedules with the default policies at a fast target. Both fire at the same instants, so their
runs share batches. Before: A's answered runs stayed `running` until their batch-mates' hour
was up, A's later slots were `skipped`, and after ~110 s B's batches held every batch slot of
the worker. Now every slot of A is delivered and recorded on time, the worker's connections to
the tarpit stay within SCHEDULER_ORIGIN_CONNECTIONS, some of B's runs wait for their origin's
slots and the worker refuses to hold more of them (their attempts fail, retried per policy).

Real worker process, real loopback targets; short in `make test`, 3 minutes with 100 + 20
schedules under SOAK=1.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.faults.audit import (
    assert_fire_lag_within,
    audit_window,
    create_schedules,
    lag_stats,
    scalar,
)
from tests.faults.conftest import Workers, scaled
from tests.support.db import wait_until
from tests.support.target import RecordingTarget
from tests.support.tarpit import Tarpit
from worker.http.wire import ORIGIN_WAITING_FACTOR

FAST = scaled(40, 100)  # tenant A's schedules
SILENT = 20  # tenant B's
WINDOW = scaled(30, 180)  # seconds
ORIGIN_CONNECTIONS = 50


@pytest.mark.timeout(WINDOW + 120)
def test_a_silent_target_of_one_tenant_holds_no_run_of_another(
    database_url: str, target: RecordingTarget, workers: Workers, figures: Any
) -> None:
    with Tarpit() as tarpit:
        allowlist = (tarpit.url + "/",)
        silent = create_schedules(
            database_url,
            [
                {
                    "workflow_id": f"silent-{n}",
                    "cron_expression": "* * * * * *",
                    "overlap_policy": "allow_all",
                    "timeout_seconds": 3600,
                    "target_url": f"{tarpit.url}/hook/{n}",
                }
                for n in range(SILENT)
            ],
            tenant="tenant-b",
            allowlist=allowlist,
        )
        fast = create_schedules(
            database_url,
            [{"workflow_id": f"fast-{n}", "cron_expression": "* * * * * *"} for n in range(FAST)],
            tenant="tenant-a",
        )
        worker = workers.start(
            SCHEDULER_TARGET_ALLOWLIST=",".join(allowlist),
            SCHEDULER_ORIGIN_CONNECTIONS=str(ORIGIN_CONNECTIONS),
        )
        time.sleep(2)
        window_start = datetime.now(UTC)
        time.sleep(WINDOW)
        window_end = datetime.now(UTC)
        fast_ids = [s.id for s in fast]
        wait_until(
            lambda: _unfinished(database_url, fast_ids, window_end) == 0, 20, "A's runs to end"
        )
        requests = [r for r in target.requests() if r.workflow_id and r.workflow_id[:5] == "fast-"]
        audit = audit_window(database_url, fast, window_start, window_end, requests)
        start, end = window_start.timestamp(), window_end.timestamp()
        slots = [
            (datetime.fromisoformat(r.json()["scheduledAt"]).timestamp(), r.at) for r in requests
        ]
        in_window = [(slot, at) for slot, at in slots if start <= slot < end]
        lags = [at - slot for slot, at in in_window]
        # By thirds of the window: B's waiting requests pile up; A's lag must not grow with them.
        thirds = [
            lag_stats([at - slot for slot, at in slots if a <= slot < b])
            for a, b in zip(
                [start + i * (end - start) / 3 for i in range(3)],
                [start + (i + 1) * (end - start) / 3 for i in range(3)],
                strict=True,
            )
        ]
        silent_statuses = _statuses(database_url, [s.id for s in silent])
        silent_running = silent_statuses.get("running", 0)
        figures(
            scenario=(
                f"tenant B: {SILENT} every-second schedules at a tarpit (allow_all, 3600 s); "
                f"tenant A: {FAST} every-second schedules at a fast target"
            ),
            window_seconds=round((window_end - window_start).total_seconds(), 1),
            a_fire_lag=lag_stats(lags),
            a_fire_lag_by_third=thirds,
            a_delivered=audit.slots_delivered,
            a_skipped=audit.statuses.get("skipped", 0),
            a_stuck_running=len(audit.unfinished),
            b_statuses=silent_statuses,
            tarpit_connections=tarpit.connections,
            **audit.summary(),
        )
        assert worker.alive
        audit.assert_clean()
        assert audit.statuses == {"succeeded": audit.expected_slots}  # 0 skipped, 0 stuck
        assert audit.slots_delivered == audit.expected_slots
        assert tarpit.connections <= ORIGIN_CONNECTIONS  # its share, not the whole client
        # B's runs wait for their origin's slots, up to what a worker holds for one origin;
        # the rest are attempts refused at once (OriginBusy), retried per B's policy.
        # (`running` also counts the next instant's runs, claimed ahead of it, and refusals
        # not yet recorded.)
        held = ORIGIN_CONNECTIONS * (1 + ORIGIN_WAITING_FACTOR)
        assert ORIGIN_CONNECTIONS < silent_running <= held + 2 * SILENT
        assert silent_statuses.get("retrying", 0) + silent_statuses.get("failed", 0) > 0
        assert_fire_lag_within(in_window, 0.100)


def _statuses(database_url: str, trigger_ids: list[Any]) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM workflow_schedule_executions "
            "WHERE trigger_id = ANY(%s) GROUP BY status",
            (trigger_ids,),
        ).fetchall()
    return {status: count for status, count in rows}


def _unfinished(database_url: str, trigger_ids: list[Any], end: datetime) -> int:
    return int(
        scalar(
            database_url,
            "SELECT count(*) FROM workflow_schedule_executions WHERE trigger_id = ANY(%s) "
            "AND status IN ('pending', 'running', 'retrying') AND scheduled_at < %s",
            (trigger_ids, end),
        )
    )
