"""A database outage longer than Procrastinate's pool timeout, then a crash (issue 10 point 2,
review finding H2, maintenance path).

During an outage the recovery pass waits for a connection from Procrastinate's pool, which
gives up after 30 s with PoolTimeout wrapped in ConnectorException. The old maintenance loop did
not catch that: it ended in every worker that lived through the outage, and the next `kill -9`
left its runs `running` for good (and every `overlap=skip` schedule among them skipping every
later slot). Now recovery is a supervised loop: it logs the failure and goes on.

Two workers, 20 every-second schedules, a target that answers after 2 s (so each worker always
holds runs in flight). The database stops for 45 s (120 s under SOAK=1: anything shorter
than the pool timeout does not reach it); this runs in `make soak` only (marked `soak`: over a
minute long, it took `make test` past its budget); once firing has resumed, one
worker is killed with SIGKILL. Every run of the window must reach a final status, and the runs
the dead worker held must have been delivered again by the other (same Idempotency-Key).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.localpg import LocalCluster
from tests.faults.audit import create_schedules, scalar, unfinished_before
from tests.faults.conftest import Workers, scaled
from tests.support.db import wait_until
from tests.support.target import Received, RecordingTarget
from tests.support.workers import WorkerProcess

STUCK = """
SELECT e.status, e.attempts, e.scheduled_at, e.created_at, j.status AS job, j.worker_id,
       w.last_heartbeat, now() AS now
FROM workflow_schedule_executions e
LEFT JOIN procrastinate_jobs j ON j.id = e.job_id
LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
WHERE e.status IN ('pending', 'running', 'retrying') ORDER BY e.scheduled_at"""
pytestmark = pytest.mark.soak

# Longer than 30 s, psycopg-pool's getconn timeout in Procrastinate's connector.
OUTAGE_SECONDS = scaled(45.0, 120.0)
SCHEDULES = 20
TARGET_DELAY = 2.0


def _slot(request: Received) -> float:
    return datetime.fromisoformat(request.json()["scheduledAt"].replace("Z", "+00:00")).timestamp()


def _events(worker: WorkerProcess, name: str) -> list[dict[str, Any]]:
    found = []
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


@pytest.mark.timeout(scaled(300, 480))
def test_runs_of_a_worker_killed_after_a_long_outage_are_recovered(
    database_url: str,
    pg_cluster: LocalCluster,
    target: RecordingTarget,
    workers: Workers,
    figures: Any,
) -> None:
    specs = []
    for n in range(SCHEDULES):
        target.set_delay(f"outage-{n}", TARGET_DELAY)
        specs.append(
            {
                "workflow_id": f"outage-{n}",
                "cron_expression": "* * * * * *",
                "overlap_policy": "allow_all",
            }
        )
    create_schedules(database_url, specs)
    victim, survivor = workers.start(wait=False), workers.start(wait=False)
    victim.wait_registered()
    survivor.wait_registered()
    target.wait_for(lambda got: len(got) >= 2 * SCHEDULES, timeout=30)

    began = time.time()
    pg_cluster.stop()
    time.sleep(OUTAGE_SECONDS)  # the fault itself lasts this long
    pg_cluster.start()
    back = time.time()
    got = target.wait_for(lambda got: any(_slot(r) >= back for r in got), timeout=60)
    resumed = min(r.at for r in got if _slot(r) >= back)
    time.sleep(TARGET_DELAY + 1)  # each worker now holds a second's runs in flight
    running = scalar(
        database_url, "SELECT count(*) FROM workflow_schedule_executions WHERE status = 'running'"
    )
    killed_at = time.time()
    victim.kill()
    kill_instant = datetime.fromtimestamp(killed_at, UTC)

    try:
        wait_until(
            lambda: unfinished_before(database_url, kill_instant) == 0,
            90,
            "every run due before the kill to reach a final status (recovered)",
        )
    except AssertionError:
        stuck = _rows(database_url, STUCK)
        raise AssertionError(f"runs left unfinished: {len(stuck)}, e.g. {stuck[:5]}") from None
    recovered_at = time.time()
    requests = target.requests()
    keys = Counter(r.headers["idempotency-key"] for r in requests if _slot(r) < killed_at)
    delivered_again = sum(1 for n in keys.values() if n > 1)
    statuses = dict(
        (row[0], row[1])
        for row in _rows(
            database_url,
            "SELECT status, count(*) FROM workflow_schedule_executions "
            "WHERE scheduled_at < %s GROUP BY status",
            kill_instant,
        )
    )
    recovery_errors = _events(survivor, "recovery.error")
    figures(
        scenario=f"database down {OUTAGE_SECONDS:g} s, then kill -9 of a worker holding runs",
        schedules=SCHEDULES,
        workers=2,
        firing_resumed_after_db_back_seconds=round(resumed - back, 1),
        runs_running_at_kill=running,
        all_recovered_after_kill_seconds=round(recovered_at - killed_at, 1),
        slots_delivered_again_after_kill=delivered_again,
        statuses_due_before_kill=statuses,
        survivor_recovery_errors_logged=len(recovery_errors),
        survivor_recovery_error_types=sorted({e["error"] for e in recovery_errors}),
        outage_began=began,
    )
    assert running > 0
    assert delivered_again > 0, "the killed worker's runs in flight were sent again"
    # Slots older than the misfire grace (60 s) when the database came back are `missed`.
    assert "succeeded" in statuses and not set(statuses) - {"succeeded", "missed"}, statuses
    assert survivor.alive


def _rows(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
