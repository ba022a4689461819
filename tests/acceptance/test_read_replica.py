"""DATABASE_READ_URL against a real streaming replica (issue 13, deliverable 5).

The API runs on a primary (DATABASE_URL) with a hot standby of it as DATABASE_READ_URL
(tests/support/replica.py); every write, and every read that must see one, goes to the
primary; lists, history, statistics and /metrics go to the standby while it is at most
SCHEDULER_READ_MAX_LAG_SECONDS behind. Shown here: the reads run on the standby (its
pg_stat_activity says so), a write becomes visible through them within the bound, and a
standby that stops or whose replay is paused degrades those reads to the primary (they keep
answering), logged once, visible in /ready and /metrics, and they return when it is back; a
standby that applies each commit 5 s late (recovery_min_apply_delay) counts as lagging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from app.settings import Settings
from db.pool import APPLICATION
from tests.support.db import wait_until
from tests.support.replica import StreamingPair
from tests.support.server import make_token, running_api

MAX_LAG = 1.0
READER = f"{APPLICATION} api-read"
LAG_TOLERANT_READS = ("/api/schedules", "/api/stats", "/api/incidents", "/metrics")


@pytest.fixture
def api(replicated_database: tuple[str, str]) -> Iterator[httpx.Client]:
    """The API on the primary, reading lag-tolerant data from the standby; a client of
    tenant acme."""
    primary, standby = replicated_database
    settings = Settings(
        database_url=primary,
        database_read_url=standby,
        scheduler_read_max_lag_seconds=MAX_LAG,
        metrics_cache_seconds=0,
        log_format="console",
    )
    token = make_token(primary, "acme")
    with (
        running_api(settings) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client,
    ):
        wait_until(lambda: _reads_from(client) == "replica", 10, "reads from the replica")
        yield client


def _reads_from(client: httpx.Client) -> str:
    body = client.get("/ready").json()
    assert body["status"] == "ready", body  # the replica's state never makes the API unready
    return str(body["readReplica"])


def _metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def _ran_on_standby(standby_url: str, fragment: str) -> bool:
    """Whether a connection of the API's read pool last ran a query containing `fragment` on
    the standby (pg_stat_activity of the standby itself)."""
    with psycopg.connect(standby_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND query LIKE %s",
            (READER, f"%{fragment}%"),
        ).fetchone()
    return bool(row and row[0])


def _events(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def _all_reads_answer(client: httpx.Client) -> None:
    for path in LAG_TOLERANT_READS:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])


def test_lag_tolerant_reads_run_on_the_replica_and_see_a_write_within_the_bound(
    api: httpx.Client, replicated_database: tuple[str, str]
) -> None:
    _, standby = replicated_database
    created = api.post("/api/schedules", json={"workflowId": "wf", "cronExpression": "0 6 * * *"})
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    # A single object reads the primary: a client sees its own write at once.
    assert api.get(f"/api/schedules/{schedule_id}").status_code == 200
    run = api.post(f"/api/schedules/{schedule_id}/trigger")
    assert run.status_code == 202, run.text
    written_at = time.monotonic()
    assert api.get(f"/api/executions/{run.json()['id']}").status_code == 200

    # Through the replica, the writes show within the bound (plus a probe period and the
    # requests' own time).
    def replicated() -> bool:
        listed = [s["id"] for s in api.get("/api/schedules").json()["items"]]
        history = api.get(f"/api/schedules/{schedule_id}/executions").json()["items"]
        return listed == [schedule_id] and [e["id"] for e in history] == [run.json()["id"]]

    wait_until(replicated, MAX_LAG + 2, "the schedule and its run through the replica")
    assert time.monotonic() - written_at < MAX_LAG + 2
    assert api.get("/api/stats").status_code == 200
    # ... and those reads ran on the standby: the read pool's connection there ran the history
    # query last.
    api.get(f"/api/schedules/{schedule_id}/executions")
    assert _ran_on_standby(standby, "FROM workflow_schedule_executions"), "not on the standby"
    assert _metric(api, "scheduler_read_replica_in_use") == 1
    assert _metric(api, "scheduler_read_replica_lag_seconds") <= MAX_LAG


def test_a_stopped_replica_degrades_reads_to_the_primary_once_and_they_come_back(
    api: httpx.Client,
    replication: StreamingPair,
    replicated_database: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="app.api.read_routing")
    _, standby = replicated_database
    replication.standby.stop()
    _all_reads_answer(api)  # at once, before any probe noticed: served by the primary
    wait_until(lambda: _reads_from(api).startswith("unreachable"), 10, "the router to notice")
    created = api.post("/api/schedules", json={"workflowId": "wf", "cronExpression": "0 6 * * *"})
    for _ in range(3):
        _all_reads_answer(api)
    # A write made while the replica is down is in the list at once: the primary serves it.
    assert [s["id"] for s in api.get("/api/schedules").json()["items"]] == [created.json()["id"]]
    assert _metric(api, "scheduler_read_replica_in_use") == 0
    assert _metric(api, "scheduler_read_replica_fallbacks_total") == 1
    degraded = _events(caplog, "read.degraded")
    assert len(degraded) == 1, [r.getMessage() for r in degraded]  # not per request or probe
    assert "the replica is unreachable" in degraded[0].getMessage()

    replication.standby.start()
    wait_until(lambda: _reads_from(api) == "replica", 15, "reads back on the replica")
    api.get(f"/api/schedules/{created.json()['id']}/executions")
    assert _ran_on_standby(standby, "workflow_schedule_executions")
    assert len(_events(caplog, "read.degraded")) == 1
    assert len(_events(caplog, "read.replica")) == 1  # the return (the start was before)
    assert _metric(api, "scheduler_read_replica_in_use") == 1


def test_a_paused_replica_counts_as_lagging(
    api: httpx.Client, replication: StreamingPair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.api.read_routing")
    replication.pause_replay()
    created = api.post("/api/schedules", json={"workflowId": "wf", "cronExpression": "0 6 * * *"})
    assert created.status_code == 201, created.text
    reason = wait_until(
        lambda: _reads_from(api) != "replica" and _reads_from(api), 10, "the router to notice"
    )
    assert reason == "replay paused" or reason.startswith("lagging"), reason
    # The paused standby lacks the new schedule; the list has it: it came from the primary.
    assert [s["id"] for s in api.get("/api/schedules").json()["items"]] == [created.json()["id"]]
    assert _metric(api, "scheduler_read_replica_in_use") == 0

    replication.resume_replay()
    wait_until(lambda: _reads_from(api) == "replica", 10, "reads back on the replica")
    degraded = _events(caplog, "read.degraded")
    assert len(degraded) == 1, [r.getMessage() for r in degraded]
    assert "paused" in degraded[0].getMessage() or "lagging" in degraded[0].getMessage()


def test_a_replica_that_falls_behind_counts_as_lagging(
    api: httpx.Client, replication: StreamingPair
) -> None:
    # Each commit is applied on the standby 5 s after the primary made it: it replays, late.
    replication.delay_apply(5)
    created = api.post("/api/schedules", json={"workflowId": "wf", "cronExpression": "0 6 * * *"})
    assert created.status_code == 201, created.text
    reason = wait_until(
        lambda: _reads_from(api) != "replica" and _reads_from(api), 10, "the router to notice"
    )
    assert reason.startswith("lagging"), reason  # still replaying, not paused: behind
    assert _metric(api, "scheduler_read_replica_lag_seconds") > MAX_LAG
    # The lagging standby lacks the new schedule; the list has it: it came from the primary.
    assert [s["id"] for s in api.get("/api/schedules").json()["items"]] == [created.json()["id"]]

    replication.delay_apply(0)
    wait_until(lambda: _reads_from(api) == "replica", 15, "reads back on the replica")
