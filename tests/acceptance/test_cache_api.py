"""With REDIS_URL the API answers the same, sees finished runs at once, and survives Redis
going down (SPEC §1, §8)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from app.settings import Settings
from tests.support.redis_server import running_redis
from tests.support.server import make_token, running_api


@pytest.fixture
def redis_api(database_url: str) -> Iterator[tuple[httpx.Client, object]]:
    with running_redis() as (redis_url, process):
        settings = Settings(database_url=database_url, redis_url=redis_url, log_format="console")
        with (
            running_api(settings) as url,
            httpx.Client(
                base_url=url,
                timeout=10,
                headers={"Authorization": f"Bearer {make_token(database_url, 'acme')}"},
            ) as client,
        ):
            yield client, process


def test_history_is_cached_but_never_stale_after_a_run(
    redis_api: tuple[httpx.Client, object], database_url: str
) -> None:
    client, process = redis_api
    sid = client.post(
        "/api/schedules", json={"workflowId": "wf", "cronExpression": "@daily"}
    ).json()["id"]
    first = client.get("/api/scheduler/history", params={"triggerId": sid}).json()
    assert first["executions"] == [] and first["stats"]["total"] == 0
    # A run ends: its row is written and the schedule's last run moves (as the worker does).
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, "
            "scheduled_at, status, trigger, duration_ms, finished_at) "
            "VALUES (%s, 'wf', 'acme', now(), 'succeeded', 'manual', 12, now())",
            (sid,),
        )
        conn.execute(
            "UPDATE workflow_schedules SET last_run_at = now(), "
            "last_status = 'succeeded' WHERE id = %s",
            (sid,),
        )
    second = client.get("/api/scheduler/history", params={"triggerId": sid}).json()
    assert len(second["executions"]) == 1 and second["stats"]["total"] == 1
    assert client.get("/api/stats").status_code == 200

    process.kill()  # type: ignore[attr-defined]
    process.wait()  # type: ignore[attr-defined]
    down = client.get("/api/scheduler/history", params={"triggerId": sid})
    assert down.status_code == 200 and down.json() == second
    assert client.get("/api/stats").status_code == 200
