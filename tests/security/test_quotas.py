"""Per-tenant quotas (issue 10, H3): schedules stored, runs created per minute, runs in flight.

Each limit answers 429 with `Retry-After` and a message naming its environment variable, and
holds across API processes: the counts live in PostgreSQL, so two API servers on one database
(each with its own pool and its own in-process rate limiter) share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.firing import CATCHUP_OVER_QUOTA
from app.domain.quotas import TenantQuotas
from app.errors import QuotaExceeded
from app.services.attempts import start_batch
from app.services.dispatch import dispatch_once
from app.services.executions import ExecutionService
from app.services.schedules import ScheduleService
from db.types import Conn
from tests.security.conftest import security_settings
from tests.support.server import make_token, running_api

NOW = datetime(2026, 11, 2, 10, 0, 30, tzinfo=UTC)
"""The API's injected clock: every request of a test falls in one minute bucket."""
PAUSED = {"workflowId": "wf", "cronExpression": "* * * * * *", "enabled": False}


@contextmanager
def two_apis(database_url: str, **quotas: object) -> Iterator[Callable[[str], list[httpx.Client]]]:
    """Two API servers on one database; yields `clients(tenant)`: one client of that tenant on
    each server (all closed at the end)."""
    settings = security_settings(database_url, **quotas)
    with ExitStack() as stack:
        urls = [stack.enter_context(running_api(settings, clock=lambda: NOW)) for _ in range(2)]

        def clients(tenant: str) -> list[httpx.Client]:
            auth = {"Authorization": f"Bearer {make_token(database_url, tenant)}"}
            return [
                stack.enter_context(httpx.Client(base_url=url, headers=auth, timeout=10))
                for url in urls
            ]

        yield clients


def assert_quota(answer: httpx.Response, limit: str) -> dict[str, Any]:
    assert answer.status_code == 429, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == "quota_exceeded" and limit in body["message"]
    assert int(answer.headers["Retry-After"]) >= 1
    return body


def count_runs(database_url: str, tenant: str) -> int:
    with psycopg.connect(database_url) as db:
        row = db.execute(
            "SELECT count(*) FROM workflow_schedule_executions WHERE tenant = %s", (tenant,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_schedules_stored_across_two_api_processes(database_url: str) -> None:
    with two_apis(database_url, scheduler_tenant_max_schedules=3) as clients:
        first, second = clients("acme")
        other = clients("globex")[0]
        ids = [
            first.post("/api/schedules", json=PAUSED).json()["id"],
            second.post("/api/schedules", json=PAUSED).json()["id"],
            first.post("/api/schedules", json=PAUSED).json()["id"],
        ]
        body = assert_quota(
            second.post("/api/schedules", json=PAUSED), "SCHEDULER_TENANT_MAX_SCHEDULES"
        )
        assert "at most 3 schedules" in body["message"]
        register = second.post(
            "/api/scheduler/register",
            json={"triggerId": "6f1a3a4e-6c43-4d59-a4ad-0c8d3b1d2a10", **PAUSED},
        )
        assert_quota(register, "SCHEDULER_TENANT_MAX_SCHEDULES")
        assert other.post("/api/schedules", json=PAUSED).status_code == 201, "tenants apart"
        assert first.delete(f"/api/schedules/{ids[0]}").status_code == 204
        assert second.post("/api/schedules", json=PAUSED).status_code == 201, "room again"


async def test_concurrent_creates_never_pass_the_quota(conn: Conn, database_url: str) -> None:
    quotas = TenantQuotas(max_schedules=5)

    async def create() -> bool:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as own:
            try:
                await ScheduleService(own, "acme", quotas=quotas).create(
                    {"workflow_id": "wf", "cron_expression": "@daily"}
                )
            except QuotaExceeded:
                return False
            return True

    created = await asyncio.gather(*(create() for _ in range(12)))
    assert sum(created) == 5
    row = await (
        await conn.execute("SELECT count(*) AS n FROM workflow_schedules WHERE tenant = 'acme'")
    ).fetchone()
    assert row == {"n": 5}


def test_runs_per_minute_across_two_api_processes(database_url: str) -> None:
    with two_apis(database_url, scheduler_tenant_max_runs_per_minute=10) as clients:
        first, second = clients("acme")
        other = clients("globex")[0]
        sid = first.post("/api/schedules", json=PAUSED).json()["id"]
        window = {"start": "2026-11-02T09:00:00Z", "end": "2026-11-02T09:00:08Z"}
        assert first.post(f"/api/schedules/{sid}/backfill", json=window).json()["created"] == 8
        # The second process sees the first one's runs: 5 do not fit in the 2 left.
        refused = second.post(
            f"/api/schedules/{sid}/backfill",
            json={"start": "2026-11-02T09:01:00Z", "end": "2026-11-02T09:01:05Z"},
        )
        body = assert_quota(refused, "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE")
        assert "2 left" in body["message"] and "needs 5" in body["message"]
        assert count_runs(database_url, "acme") == 8, "a refused backfill creates nothing"
        assert second.post(f"/api/schedules/{sid}/trigger").status_code == 202
        assert first.post(f"/api/schedules/{sid}/trigger").status_code == 202
        assert_quota(
            second.post(f"/api/schedules/{sid}/trigger"), "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE"
        )
        # More than a minute's quota in one request can never fit: 422 on `end`, not 429.
        huge = first.post(
            f"/api/schedules/{sid}/backfill",
            json={"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:00:11Z"},
        )
        assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "end"
        other_sid = other.post("/api/schedules", json=PAUSED).json()["id"]
        assert other.post(f"/api/schedules/{other_sid}/backfill", json=window).status_code == 200


async def test_concurrent_backfills_share_the_minute(conn: Conn, database_url: str) -> None:
    """Backfills racing on several connections: the row lock of the tenant's bucket makes their
    charges add up; those that would pass the quota roll back whole."""
    clock = lambda: NOW  # noqa: E731
    quotas = TenantQuotas(max_runs_per_minute=25)
    schedule = await ScheduleService(conn, "acme", clock=clock).create(
        {"workflow_id": "wf", "cron_expression": "* * * * * *", "enabled": False}
    )

    async def backfill(minute: int) -> int:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as own:
            start = NOW - timedelta(hours=1) + timedelta(minutes=minute)
            try:
                result = await ExecutionService(own, "acme", clock=clock, quotas=quotas).backfill(
                    schedule.id, start, start + timedelta(seconds=10)
                )
            except QuotaExceeded:
                return 0
            return result.created

    created = await asyncio.gather(*(backfill(m) for m in range(6)))
    assert sorted(created) == [0, 0, 0, 0, 10, 10]
    row = await (
        await conn.execute("SELECT count(*) AS n FROM workflow_schedule_executions")
    ).fetchone()
    assert row == {"n": 20}


def test_runs_in_flight_refuse_manual_runs_and_backfills(database_url: str) -> None:
    with two_apis(database_url, scheduler_tenant_max_runs_in_flight=2) as clients:
        first, second = clients("acme")
        sid = first.post("/api/schedules", json=PAUSED).json()["id"]
        for _ in range(2):
            assert first.post(f"/api/schedules/{sid}/trigger").status_code == 202
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("UPDATE workflow_schedule_executions SET status = 'running'")
        body = assert_quota(
            second.post(f"/api/schedules/{sid}/trigger"), "SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT"
        )
        assert "2 are running" in body["message"]
        assert_quota(
            first.post(
                f"/api/schedules/{sid}/backfill",
                json={"start": "2026-11-02T09:00:00Z", "end": "2026-11-02T09:00:03Z"},
            ),
            "SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT",
        )


async def _backfill(conn: Conn, tenant: str, seconds: int) -> list[UUID]:
    clock = lambda: NOW  # noqa: E731
    schedule = await ScheduleService(conn, tenant, clock=clock).create(
        {"workflow_id": "wf", "cron_expression": "* * * * * *", "enabled": False}
    )
    start = NOW - timedelta(minutes=5)
    result = await ExecutionService(conn, tenant, clock=clock).backfill(
        schedule.id, start, start + timedelta(seconds=seconds)
    )
    cursor = await conn.execute(  # oldest first: the order the cap starts them in
        "SELECT id FROM workflow_schedule_executions WHERE id = ANY(%s) ORDER BY scheduled_at",
        (list(result.execution_ids),),
    )
    return [row["id"] for row in await cursor.fetchall()]


async def _statuses(conn: Conn, ids: list[UUID]) -> list[str]:
    cursor = await conn.execute(
        "SELECT status FROM workflow_schedule_executions WHERE id = ANY(%s) ORDER BY scheduled_at",
        (ids,),
    )
    return [r["status"] for r in await cursor.fetchall()]


async def test_the_engine_starts_no_more_than_the_cap_and_holds_the_rest(conn: Conn) -> None:
    acme = await _backfill(conn, "acme", 5)
    globex = await _backfill(conn, "globex", 2)
    started = await start_batch(conn, acme + globex, max_in_flight=3)
    assert len(started) == 5, "acme's 3 oldest and both of globex's"
    assert await _statuses(conn, acme) == ["running"] * 3 + ["pending"] * 2
    assert await _statuses(conn, globex) == ["running"] * 2
    # The held runs are untouched (no attempt counted) and have a new job a second later.
    cursor = await conn.execute(
        "SELECT e.attempts, j.status, j.scheduled_at > clock_timestamp() AS later "
        "FROM workflow_schedule_executions e JOIN procrastinate_jobs j ON j.id = e.job_id "
        "WHERE e.id = ANY(%s)",
        (acme[3:],),
    )
    assert await cursor.fetchall() == [{"attempts": 0, "status": "todo", "later": True}] * 2
    # At the cap: nothing more of acme starts (tried again 5 s later, not every second); a run
    # re-claimed after a crash is not held.
    assert await start_batch(conn, acme[3:], max_in_flight=3) == []
    cursor = await conn.execute(
        "SELECT bool_and(j.scheduled_at > clock_timestamp() + interval '4 seconds') AS later "
        "FROM workflow_schedule_executions e JOIN procrastinate_jobs j ON j.id = e.job_id "
        "WHERE e.id = ANY(%s)",
        (acme[3:],),
    )
    assert await cursor.fetchone() == {"later": True}
    assert len(await start_batch(conn, acme[:1], max_in_flight=3)) == 1
    # One run ends: one held run starts.
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'succeeded' WHERE id = %s", (acme[0],)
    )
    assert len(await start_batch(conn, acme[3:], max_in_flight=3)) == 1
    assert await _statuses(conn, acme) == ["succeeded"] + ["running"] * 3 + ["pending"]


async def test_far_below_the_cap_a_batch_starts_whole(conn: Conn) -> None:
    ids = await _backfill(conn, "acme", 30)
    assert len(await start_batch(conn, ids[:10], max_in_flight=10_000)) == 10
    # 10 running + 20 waiting: far below 10,000 (no lock); near 1,000 the locked count decides.
    assert len(await start_batch(conn, ids[10:], max_in_flight=1_000)) == 20
    assert len(await start_batch(conn, [], max_in_flight=5)) == 0


async def test_concurrent_batches_of_one_tenant_respect_the_cap(
    conn: Conn, database_url: str
) -> None:
    ids = await _backfill(conn, "acme", 40)

    async def start(batch: list[UUID]) -> int:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as own:
            return len(await start_batch(own, batch, max_in_flight=7))

    started = await asyncio.gather(*(start(ids[i::8]) for i in range(8)))
    assert sum(started) == 7
    assert (await _statuses(conn, ids)).count("running") == 7


async def test_catch_up_beyond_the_quota_is_recorded_missed(conn: Conn) -> None:
    """A fire_all schedule 49 slots behind, a quota of 30 runs a minute: the 30 oldest catch-up
    slots fire, the other 19 are `missed` with a note naming the limit, the tenant's minute is
    charged, and a manual run is then refused."""
    schedule = await ScheduleService(
        conn, "acme", clock=lambda: NOW - timedelta(seconds=60)
    ).create(
        {
            "workflow_id": "wf",
            "cron_expression": "* * * * * *",
            "misfire_policy": "fire_all",
            "misfire_grace_seconds": 0,
            "overlap_policy": "allow_all",
        }
    )
    stats = await dispatch_once(conn, now=NOW - timedelta(seconds=10), max_runs_per_minute=30)
    assert stats.claimed == 1
    cursor = await conn.execute(
        "SELECT trigger, status, error FROM workflow_schedule_executions "
        "WHERE trigger_id = %s ORDER BY scheduled_at",
        (schedule.id,),
    )
    rows = await cursor.fetchall()
    catchup = [r for r in rows if r["trigger"] == "catchup"]
    assert [r["status"] for r in catchup] == ["pending"] * 30 + ["missed"] * (len(catchup) - 30)
    assert len(catchup) == 49, "every slot behind the grace is recorded, none lost"
    assert {r["error"] for r in catchup[30:]} == {CATCHUP_OVER_QUOTA}
    assert "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE" in CATCHUP_OVER_QUOTA
    usage = await (await conn.execute("SELECT tenant, runs FROM tenant_run_usage")).fetchall()
    assert usage == [{"tenant": "acme", "runs": 30}]
    runs = ExecutionService(
        conn, "acme", clock=lambda: NOW, quotas=TenantQuotas(max_runs_per_minute=30)
    )
    with pytest.raises(QuotaExceeded) as refused:
        await runs.trigger(schedule.id)
    assert refused.value.limit == "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE"
