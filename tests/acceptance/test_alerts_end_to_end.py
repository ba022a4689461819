"""Issue 12 end to end: runs that fail open an incident, a run that succeeds resolves it, and
a real worker delivers both announcements to a real receiver that verifies them with the
`standardwebhooks` package. Exactly one `incident.opened` however many runs fail."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from app.settings import Settings
from tests.support.alerts import standard_webhooks_check
from tests.support.db import wait_until
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess


@pytest.fixture
def hooks() -> Iterator[RecordingTarget]:
    with RecordingTarget() as receiver:
        yield receiver


@pytest.fixture
def settings(database_url: str, hooks: RecordingTarget) -> Settings:
    return Settings(
        database_url=database_url,
        scheduler_target_allowlist=f"{hooks.url}/in",
        log_format="console",
    )


def _outbox(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT d.event_type, d.status, d.attempts, d.last_error, i.kind, i.state "
            "FROM alert_incidents i LEFT JOIN alert_deliveries d ON d.incident_id = i.id"
        ).fetchall()


def _run_and_wait(client: httpx.Client, schedule_id: str, status: str) -> dict[str, Any]:
    run = client.post(f"/api/schedules/{schedule_id}/trigger")
    assert run.status_code == 202, run.text
    return dict(
        wait_until(
            lambda: (
                (e := client.get(f"/api/executions/{run.json()['id']}").json())["status"] == status
                and e
            ),
            20,
            f"a run {status}",
        )
    )


def test_a_failing_schedule_is_announced_once_and_its_recovery_once(
    client: httpx.Client,
    target: RecordingTarget,
    hooks: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    api_url: str,
    database_url: str,
) -> None:
    channel = client.post(
        "/api/alert-channels",
        json={
            "name": "on-call",
            "kind": "webhook",
            "url": f"{hooks.url}/in/alerts",
            "events": ["run.failed"],
        },
    )
    assert channel.status_code == 201, channel.text
    hooks.verify_requests(standard_webhooks_check(channel.json()["secret"]))
    target.script("nightly", [Response(500), Response(500), Response(503), Response(200)])
    schedule = client.post(
        "/api/schedules",
        json={"workflowId": "nightly", "cronExpression": "0 3 * * *", "maxAttempts": 1},
    )
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["id"]
    start_worker(SCHEDULER_PUBLIC_URL=api_url, SCHEDULER_TARGET_ALLOWLIST=f"{hooks.url}/in")

    for _ in range(3):
        _run_and_wait(client, schedule_id, "failed")
    try:
        wait_until(lambda: hooks.received, 20, "the incident.opened delivery")
    except AssertionError:
        raise AssertionError(f"no delivery arrived; the outbox: {_outbox(database_url)}") from None
    incidents = client.get("/api/incidents", params={"state": "open"}).json()["items"]
    assert [i["occurrences"] for i in incidents] == [3]

    _run_and_wait(client, schedule_id, "succeeded")
    wait_until(lambda: len(hooks.received) >= 2, 20, "the incident.resolved delivery")
    bodies = [json.loads(r.body) for r in hooks.received]
    assert [b["type"] for b in bodies] == ["incident.opened", "incident.resolved"]
    assert all(r.status == 200 for r in hooks.received), "both verified by standardwebhooks"
    first, second = bodies
    assert first["incident"]["id"] == second["incident"]["id"]
    assert first["incident"]["kind"] == "run.failed"
    assert first["incident"]["scheduleId"] == schedule_id
    assert second["incident"]["resolvedAt"] and second["incident"]["occurrences"] == 3
    assert first["incident"]["dashboardUrl"] == f"{api_url}/schedules/{schedule_id}"
    ids = {r.headers["webhook-id"] for r in hooks.received}
    assert len(ids) == 2, "one webhook-id per announcement"
