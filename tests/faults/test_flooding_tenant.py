"""A flooding tenant (issue 10, point 3): tenant A at every per-tenant quota at once, tenant B's
every-second schedules keep their fire lag.

Tenant A (`acme`) stores its maximum of schedules, has used its runs per minute with backfills,
and keeps its maximum of runs in flight against a slow target (every-second schedules whose
target answers after 1 s), while it keeps asking for more manual runs and backfills. Tenant B
(`globex`) has every-second schedules at a fast target. Checked: every quota answered 429
naming its limit, A never had more runs `running` than its cap, B lost nothing and its fire lag
p99 stayed within 100 ms (`assert_fire_lag_within`: one instant may be the machine's stall),
and A's runs held back by the cap all ran once A stopped (nothing lost, nothing skipped
because of the cap).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.execution import QUEUED
from app.domain.schedule import Schedule
from app.services.schedules import ScheduleService
from app.settings import Settings
from tests.faults.audit import (
    assert_fire_lag_within,
    audit_window,
    for_slots_in,
    lag_stats,
    scalar,
    slot_of,
)
from tests.faults.conftest import Workers, scaled
from tests.support.db import wait_until
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget

MAX_SCHEDULES = 85
MAX_RUNS_PER_MINUTE = 300
MAX_IN_FLIGHT = 30
QUOTAS = {
    "SCHEDULER_TENANT_MAX_SCHEDULES": str(MAX_SCHEDULES),
    "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE": str(MAX_RUNS_PER_MINUTE),
    "SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT": str(MAX_IN_FLIGHT),
}
# The cap is per tenant: B's own runs in flight must stay under it. A run counts from its
# dispatch (ahead of its instant) until its outcome is recorded, which, until per-run recording
# (H1), is when the last run of its batch answers: with A's slow runs in the same batches,
# B's 10 runs an instant count for ~1.4 s each, with the next instant's dispatched ahead up to
# ~20 at a time (measured: `b_max_running`). A's 80 slow schedules (overlap skip: each fires
# every other second) want ~40 at a time: over the cap.
B_SCHEDULES = 10
A_SLOW_SCHEDULES = 80
SLOW_SECONDS = 1.0
WINDOW = scaled(15, 300)


def _create(database_url: str, tenant: str, specs: list[dict[str, Any]]) -> list[Schedule]:
    async def create() -> list[Schedule]:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            service = ScheduleService(conn, tenant)
            return [await service.create(spec) for spec in specs]

    return asyncio.run(create())


class Sampler:
    """Samples a number from the database every 50 ms on its own thread; keeps the maximum."""

    def __init__(self, database_url: str, sql: str, *params: object) -> None:
        self.database_url, self.sql, self.params = database_url, sql, params
        self.maximum, self.samples = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.wait(0.05):
                row = conn.execute(self.sql, self.params).fetchone()  # type: ignore[arg-type]
                self.maximum = max(self.maximum, int(row[0]) if row else 0)
                self.samples += 1

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


class Pressure:
    """Tenant A asking for more, twice a second: a backfill and a manual run. Counts the answers
    by status and, for 429s, by the limit they name."""

    def __init__(self, http: httpx.Client, bulk_id: str, slow_id: str) -> None:
        self.http, self.bulk_id, self.slow_id = http, bulk_id, slow_id
        self.answers: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def record(self, answer: httpx.Response) -> None:
        if answer.status_code != 429:
            self.answers[str(answer.status_code)] += 1
            return
        message = answer.json()["message"]
        assert int(answer.headers["Retry-After"]) >= 1
        for limit in [name for name in QUOTAS if name in message] or ["token bucket"]:
            self.answers[f"429 {limit}"] += 1

    def _run(self) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        n = 0
        while not self._stop.wait(0.5):
            n += 1
            window = {
                "start": (start + timedelta(minutes=n)).isoformat(),
                "end": (start + timedelta(minutes=n, seconds=50)).isoformat(),
            }
            self.record(self.http.post(f"/api/schedules/{self.bulk_id}/backfill", json=window))
            self.record(self.http.post(f"/api/schedules/{self.slow_id}/trigger"))

    def __enter__(self) -> Pressure:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def api(database_url: str) -> Iterator[str]:
    quotas = {name.lower(): int(value) for name, value in QUOTAS.items()}
    settings = Settings(database_url=database_url, log_format="json", **quotas)  # type: ignore[arg-type]
    with running_api(settings) as url:
        yield url


def _client(api: str, database_url: str, tenant: str) -> httpx.Client:
    token = make_token(database_url, tenant)
    return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.timeout(scaled(150, 600))
def test_a_tenant_at_every_quota_does_not_slow_the_others(
    database_url: str, api: str, target: RecordingTarget, workers: Workers, figures: Any
) -> None:
    for n in range(A_SLOW_SCHEDULES):
        target.set_delay(f"a-slow-{n}", SLOW_SECONDS)
    with _client(api, database_url, "acme") as acme:
        schedules_429 = _fill_schedules(acme)
        bulk_id = _fill_runs_per_minute(acme)  # before any of A's runs is in flight
        workers.start(**QUOTAS)
        slow_ids = [
            acme.post(
                "/api/schedules",
                json={"workflowId": f"a-slow-{n}", "cronExpression": "* * * * * *"},
            ).json()["id"]
            for n in range(A_SLOW_SCHEDULES)
        ]
        assert all(slow_ids)
        wait_until(
            lambda: _count(database_url, "acme", "running") >= MAX_IN_FLIGHT,
            20,
            "A to reach its cap",
        )
        b_schedules = _create(
            database_url,
            "globex",
            [
                {
                    "workflow_id": f"b-{n}",
                    "cron_expression": "* * * * * *",
                    "overlap_policy": "allow_all",
                }
                for n in range(B_SCHEDULES)
            ],
        )
        time.sleep(1.5)  # B's first slots are dispatched
        running_sql = (
            "SELECT count(*) FROM workflow_schedule_executions "
            "WHERE tenant = %s AND status = 'running'"
        )
        with (
            Sampler(database_url, running_sql, "acme") as in_flight,
            Sampler(database_url, running_sql, "globex") as b_in_flight,
            Pressure(acme, bulk_id, slow_ids[0]) as pressure,
        ):
            window_start = datetime.now(UTC)
            time.sleep(WINDOW)
            window_end = datetime.now(UTC)
        held_at_end = _count(database_url, "acme", "pending")
        # A stops: every run the cap held back must still run, none may stay behind.
        for sid in slow_ids:
            acme.post(f"/api/schedules/{sid}/pause", json={})
    wait_until(
        lambda: _count(database_url, "acme", *QUEUED) == 0,
        60,
        "A's held runs to run and finish",
    )
    wait_until(
        lambda: _count(database_url, "globex", *QUEUED) == 0,
        20,
        "B's runs to finish",
    )
    b_ids = {str(s.id) for s in b_schedules}
    b_requests = [r for r in target.requests() if r.json()["triggerId"] in b_ids]
    audit = audit_window(database_url, b_schedules, window_start, window_end, b_requests)
    slots = [(slot_of(r), r.at) for r in for_slots_in(b_requests, window_start, window_end)]
    lags = [at - slot for slot, at in slots]
    a_statuses = _statuses(database_url, "acme")
    figures(
        scenario=(
            f"tenant A: {MAX_SCHEDULES} schedules (max), backfills at {MAX_RUNS_PER_MINUTE} "
            f"runs/min (max), {A_SLOW_SCHEDULES} every-second schedules at a {SLOW_SECONDS:g} s "
            f"target capped at {MAX_IN_FLIGHT} in flight, asking for more twice a second; "
            f"tenant B: {B_SCHEDULES} every-second schedules"
        ),
        window_seconds=round((window_end - window_start).total_seconds(), 1),
        b_fire_lag=lag_stats(lags),
        b_audit=audit.summary(),
        b_max_running=b_in_flight.maximum,
        a_max_running=in_flight.maximum,
        a_running_samples=in_flight.samples,
        a_pending_held_at_window_end=held_at_end,
        a_answers=dict(pressure.answers),
        a_schedule_429=schedules_429,
        a_final_statuses=a_statuses,
    )
    assert in_flight.maximum <= MAX_IN_FLIGHT and in_flight.samples > 0
    assert b_in_flight.maximum < MAX_IN_FLIGHT, "B met its own cap: the test proves nothing"
    assert pressure.answers["429 SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT"] > 0, pressure.answers
    assert pressure.answers["429 SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE"] > 0, pressure.answers
    assert not set(a_statuses) - {"succeeded", "skipped"}, a_statuses
    audit.assert_clean()
    assert audit.statuses == {"succeeded": audit.expected_slots}
    assert audit.slots_delivered == audit.expected_slots and len(lags) >= audit.expected_slots
    assert_fire_lag_within(slots, 0.100)


def _fill_schedules(acme: httpx.Client) -> str:
    """A stores its maximum: one paused bulk schedule, the slow ones to come, fillers; one
    more is refused. Returns the refusal's message."""
    for n in range(MAX_SCHEDULES - A_SLOW_SCHEDULES):
        answer = acme.post(
            "/api/schedules",
            json={"workflowId": f"a-bulk-{n}", "cronExpression": "* * * * * *", "enabled": False},
        )
        assert answer.status_code == 201, answer.text
    # The slow schedules are created later; hold their places meanwhile with fillers.
    fillers = [
        acme.post(
            "/api/schedules",
            json={"workflowId": "a-filler", "cronExpression": "@yearly", "enabled": False},
        ).json()["id"]
        for _ in range(A_SLOW_SCHEDULES)
    ]
    refused = acme.post(
        "/api/schedules", json={"workflowId": "a-more", "cronExpression": "@yearly"}
    )
    assert refused.status_code == 429 and "SCHEDULER_TENANT_MAX_SCHEDULES" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    for sid in fillers:
        assert acme.delete(f"/api/schedules/{sid}").status_code == 204
    return str(refused.json()["message"])


def _fill_runs_per_minute(acme: httpx.Client) -> str:
    """A backfills 100 slots at a time until the runs-per-minute quota refuses; returns the
    bulk schedule's id."""
    bulk = acme.get("/api/schedules", params={"workflowId": "a-bulk-0"}).json()["items"][0]
    start = datetime(2025, 6, 1, tzinfo=UTC)
    for n in range(MAX_RUNS_PER_MINUTE // 100):
        window = {
            "start": (start + timedelta(seconds=100 * n)).isoformat(),
            "end": (start + timedelta(seconds=100 * (n + 1))).isoformat(),
        }
        answer = acme.post(f"/api/schedules/{bulk['id']}/backfill", json=window)
        assert answer.status_code == 200 and answer.json()["created"] == 100, answer.text
    refused = acme.post(
        f"/api/schedules/{bulk['id']}/backfill",
        json={"start": "2025-07-01T00:00:00Z", "end": "2025-07-01T00:00:10Z"},
    )
    assert refused.status_code == 429, refused.text
    assert "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE" in refused.json()["message"]
    return str(bulk["id"])


def _count(database_url: str, tenant: str, *statuses: str) -> int:
    sql = "SELECT count(*) FROM workflow_schedule_executions WHERE tenant = %s AND status = ANY(%s)"
    return int(scalar(database_url, sql, (tenant, list(statuses))))


def _statuses(database_url: str, tenant: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM workflow_schedule_executions WHERE tenant = %s "
            "GROUP BY 1 ORDER BY 1",
            (tenant,),
        ).fetchall()
    return {str(status): int(n) for status, n in rows}
