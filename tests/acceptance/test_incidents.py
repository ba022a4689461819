"""Incidents end to end (issue 12): real worker processes, a real API (its watcher), a loopback
target; what they write into the outbox and what GET /api/incidents shows.

The rules on a frozen clock are tests/integration/test_incidents.py; here the processes do it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.schedule import Schedule
from app.settings import Settings
from tests.support.db import create_schedule, wait_until
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess

KINDS = ["run.failed", "schedule.paused", "slot.missed", "run.late"]


def _channel(database_url: str, tenant: str = "acme") -> UUID:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "INSERT INTO alert_channels (tenant, name, kind, url, secret, events) "
            "VALUES (%s, 'ops', 'webhook', 'http://127.0.0.1:9/hook', 'whsec_x', %s) "
            "RETURNING id",
            (tenant, KINDS),
        ).fetchone()
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


def _outbox(database_url: str, schedule_id: UUID, kind: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT d.event_type, d.payload FROM alert_deliveries d "
            "JOIN alert_incidents i ON i.id = d.incident_id "
            "WHERE i.trigger_id = %s AND i.kind = %s ORDER BY d.created_at, d.id",
            (schedule_id, kind),
        ).fetchall()


def _events(database_url: str, schedule_id: UUID, kind: str) -> list[str]:
    return [d["event_type"] for d in _outbox(database_url, schedule_id, kind)]


@pytest.fixture
def watched_api(database_url: str) -> Iterator[str]:
    """An API whose watcher looks every 0.2 s (the default is 5 s)."""
    settings = Settings(
        database_url=database_url,
        log_format="console",
        scheduler_alert_watch_interval=0.2,
    )
    with running_api(settings) as url:
        yield url


def test_a_failing_schedule_is_one_incident_until_it_succeeds(
    database_url: str,
    api_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    target.script("flaky", [Response(500)] * 4)
    _channel(database_url)
    schedule = create_schedule(
        database_url,
        workflow_id="flaky",
        cron_expression="* * * * * *",
        max_attempts=1,
        overlap_policy="allow_all",
    )
    start_worker()
    # Four failed runs, then successes.
    target.wait_for(lambda got: sum(r.status == 200 for r in got) >= 1, timeout=30)
    wait_until(
        lambda: (
            _events(database_url, schedule.id, "run.failed")
            == ["incident.opened", "incident.resolved"]
        ),
        15,
        "the incident's resolution in the outbox",
    )
    opened, resolved = _outbox(database_url, schedule.id, "run.failed")
    assert opened["payload"]["incident"]["id"] == resolved["payload"]["incident"]["id"]
    assert resolved["payload"]["incident"]["occurrences"] == 4
    # Further successes announce nothing more.
    target.wait_for(lambda got: sum(r.status == 200 for r in got) >= 3, timeout=15)
    assert len(_outbox(database_url, schedule.id, "run.failed")) == 2

    with (
        httpx.Client(base_url=api_url, headers=_auth(database_url, "acme")) as acme,
        httpx.Client(base_url=api_url, headers=_auth(database_url, "globex")) as globex,
    ):
        listed = acme.get("/api/incidents", params={"scheduleId": str(schedule.id)}).json()
        [incident] = listed["items"]
        assert incident["kind"] == "run.failed" and incident["state"] == "resolved"
        assert incident["occurrences"] == 4 and incident["scheduleId"] == str(schedule.id)
        assert acme.get(f"/api/incidents/{incident['id']}").json() == incident
        assert acme.get("/api/incidents", params={"state": "open"}).json()["items"] == []
        # Another tenant's id is not found, and its list is its own.
        assert globex.get(f"/api/incidents/{incident['id']}").status_code == 404
        assert globex.get("/api/incidents").json() == {"items": [], "nextCursor": None}
        assert acme.get("/api/incidents", params={"state": "nope"}).status_code in (400, 422)


def _auth(database_url: str, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(database_url, tenant)}"}


def _ticking(
    database_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    worker_env: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[Schedule, WorkerProcess]:
    """A channel, a schedule firing every second, and a worker that has sent two of its runs.
    The worker is running before the schedule exists: one started after it may take longer
    than a short misfire grace to make its first pass, and open a slot.missed of its own."""
    _channel(database_url)
    worker = start_worker(**(worker_env or {}))
    schedule = create_schedule(
        database_url, cron_expression="* * * * * *", overlap_policy="allow_all", **fields
    )
    target.wait_for(lambda got: len(got) >= 2, timeout=20)
    return schedule, worker


def test_run_late_is_noticed_with_every_worker_frozen(
    database_url: str,
    watched_api: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    schedule, worker = _ticking(
        database_url, target, start_worker, workflow_id="ticking", late_after_seconds=2
    )
    assert _events(database_url, schedule.id, "run.late") == []
    worker.signal(signal.SIGSTOP)
    try:
        wait_until(
            lambda: _events(database_url, schedule.id, "run.late") == ["incident.opened"],
            15,
            "run.late opened while the only worker is frozen",
        )
        frozen_requests = len(target.received)
    finally:
        worker.signal(signal.SIGCONT)
    target.wait_for(lambda got: len(got) > frozen_requests, timeout=20)
    wait_until(
        lambda: (
            _events(database_url, schedule.id, "run.late")
            == ["incident.opened", "incident.resolved"]
        ),
        15,
        "run.late resolved once the worker continues",
    )
    [opened, _] = _outbox(database_url, schedule.id, "run.late")
    assert opened["payload"]["incident"]["kind"] == "run.late"
    assert opened["payload"]["incident"]["workflowId"] == "ticking"


def test_slots_missed_in_a_downtime_open_slot_missed(
    database_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    # A pass late by more than the grace before the downtime (a slow machine) is an incident
    # of its own; with no flapping bound, the downtime's is announced anew all the same (the
    # bound would hold back an incident back within its interval). Only what the downtime adds
    # is looked at.
    no_flapping_bound = {"SCHEDULER_ALERT_MIN_INTERVAL": "0"}
    schedule, worker = _ticking(
        database_url,
        target,
        start_worker,
        no_flapping_bound,
        workflow_id="skipper",
        misfire_policy="skip",
        misfire_grace_seconds=1,
    )
    wait_until(
        lambda: (
            _events(database_url, schedule.id, "slot.missed")
            in ([], ["incident.opened", "incident.resolved"])
        ),
        20,
        "no slot.missed open before the downtime",
    )
    before = len(_outbox(database_url, schedule.id, "slot.missed"))
    assert worker.stop() == 0
    time.sleep(4)  # slots pass with no worker: the downtime under test
    start_worker(**no_flapping_bound)
    wait_until(
        lambda: (
            _events(database_url, schedule.id, "slot.missed")[before:]
            == ["incident.opened", "incident.resolved"]
        ),
        20,
        "slot.missed opened after the downtime, resolved by the next on-time fire",
    )
    opened, resolved = _outbox(database_url, schedule.id, "slot.missed")[before:]
    # The restarted worker's first pass records every slot of the downtime at once.
    assert opened["payload"]["incident"]["occurrences"] >= 2
    assert resolved["payload"]["incident"]["resolvedAt"] is not None
