"""Workers and the API through PgBouncer in session mode (issue 13, deliverable 5).

A real PgBouncer (tests/support/pgbouncer.py) in front of the suite's PostgreSQL; a real worker
process and the API with DATABASE_URL pointing at it; the test itself watches the database
directly. Shown: a NOTIFY through PgBouncer wakes an idle dispatcher (its longest sleep is set
far beyond the test's wait), an every-second schedule fires each slot exactly once, and a
PgBouncer restart (every client and server connection closed at once) costs nothing: firing
resumes, every due slot of the window has one row, delivered, finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from app.settings import Settings
from db.queries import query
from devtools.localpg import LocalCluster
from tests.faults.audit import audit_window, unfinished_before
from tests.support.db import get_schedule, wait_until
from tests.support.pgbouncer import PgBouncer
from tests.support.server import make_token, running_api
from tests.support.target import Received, RecordingTarget
from tests.support.workers import WorkerProcess

IDLE_SLEEP = "60"  # SCHEDULER_DISPATCH_MAX_SLEEP: only a NOTIFY wakes the dispatcher sooner
WAKE_LIMIT = 10.0


@pytest.fixture
def bouncer(pg_cluster: LocalCluster) -> Iterator[PgBouncer]:
    running = PgBouncer(pg_cluster.port).start()
    try:
        yield running
    finally:
        running.destroy()


def _slot(request: Received) -> datetime:
    return datetime.fromisoformat(request.json()["scheduledAt"].replace("Z", "+00:00"))


def _listening(database_url: str, since: datetime | None = None) -> datetime | None:
    """When the LISTEN of a worker's listener (through PgBouncer: a server backend like any
    other) on this database was run, if after `since`; None while there is none."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT query_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND query = %s AND state = 'idle' "
            "AND query_start > coalesce(%s::timestamptz, '-infinity') "
            "ORDER BY query_start DESC LIMIT 1",
            (query("schedule_changes_listen").as_string(), since),
        ).fetchone()
    return None if row is None else row[0]


def _dispatched_since(database_url: str, since: datetime) -> bool:
    """Whether the worker's dispatcher reported a completed pass after `since`."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM worker_loop_health WHERE loop = 'dispatch' "
            "AND last_success_at > %s",
            (since,),
        ).fetchone()
    return bool(row and row[0])


def test_worker_and_api_through_pgbouncer_fire_once_and_survive_its_restart(
    database_url: str,
    bouncer: PgBouncer,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    through = bouncer.url_for(database_url)
    worker = start_worker(DATABASE_URL=through, SCHEDULER_DISPATCH_MAX_SLEEP=IDLE_SLEEP)
    settings = Settings(database_url=through, log_format="console")
    with (
        running_api(settings) as api,
        httpx.Client(
            base_url=api,
            headers={"Authorization": f"Bearer {make_token(database_url, 'acme')}"},
            timeout=10,
        ) as client,
    ):
        # The dispatcher is idle: its LISTEN is in place and it has finished the pass that
        # connecting woke, with nothing stored to wait for; its next wake-up on its own is
        # IDLE_SLEEP seconds away.
        listening_at = wait_until(lambda: _listening(database_url), 20, "the worker's LISTEN")
        wait_until(lambda: _dispatched_since(database_url, listening_at), 20, "an idle pass")

        created = client.post(
            "/api/schedules",
            # allow_all: every slot must run. (Under `skip`, a slot due while the previous
            # run's finish waits for the connection back is skipped, as the policy says.)
            json={
                "workflowId": "bounced",
                "cronExpression": "* * * * * *",
                "overlapPolicy": "allow_all",
            },
        )
        assert created.status_code == 201, created.text
        created_at = time.monotonic()
        target.wait_for(lambda got: len(got) >= 1, timeout=WAKE_LIMIT)
        assert time.monotonic() - created_at < WAKE_LIMIT  # woken by the NOTIFY, not the sleep
        target.wait_for(lambda got: len(got) >= 3, timeout=10)

        # Every client and server connection of PgBouncer closed at once, then it is back.
        restarted_at = datetime.now(UTC)
        bouncer.restart()
        target.wait_for(
            lambda got: any(_slot(r) > restarted_at + timedelta(seconds=2) for r in got),
            timeout=15,
        )
        wait_until(lambda: _listening(database_url, restarted_at), 15, "a new LISTEN")
        assert worker.alive, worker.log()

        # The API reconnected too; pausing ends the window.
        paused = client.post(f"/api/schedules/{created.json()['id']}/pause", json={})
        assert paused.status_code == 200, paused.text
        end = datetime.now(UTC).replace(microsecond=0)
        wait_until(lambda: unfinished_before(database_url, end) == 0, 15, "runs to finish")
        listed = client.get("/api/schedules")
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1

    schedule_id = created.json()["id"]
    requests = [r for r in target.requests() if r.json()["triggerId"] == schedule_id]
    start = min(_slot(r) for r in requests)
    schedule = get_schedule(database_url, schedule_id)
    audit = audit_window(database_url, [schedule], start, end, requests)
    audit.assert_clean()
    assert audit.expected_slots >= 5, audit.summary()
    assert audit.statuses == {"succeeded": audit.rows}, audit.summary()
    assert audit.redundant_deliveries == 0, audit.summary()  # each slot delivered once
