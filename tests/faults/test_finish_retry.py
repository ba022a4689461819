"""Outcomes that arrive while the database is away are recorded once it is back, without
sending the runs again (worker/executor.py `_record`). In process: the executor, a real pool,
the test cluster stopped during the requests and started again, a real loopback target."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest
from pydantic import SecretStr

from app.settings import Settings
from db.pool import create_pool
from devtools.localpg import LocalCluster
from tests.support.db import due_runs
from tests.support.executor import open_executor
from tests.support.target import RecordingTarget, Response
from worker.executor import BatchExecutor
from worker.http.target import HttpTarget

RUNS = 5


@pytest.mark.timeout(90)
async def test_outcomes_of_requests_made_during_an_outage_are_recorded_once_it_ends(
    pg_cluster: LocalCluster,
    database_url: str,
    target: RecordingTarget,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = await due_runs(database_url, [f"wf-{i}" for i in range(RUNS)])
    assert len(ids) == RUNS
    for i in range(RUNS):
        target.set_delay(f"wf-{i}", 1.0)  # the database goes away while they are in flight

    settings = Settings(
        database_url=database_url,
        internal_api_secret=SecretStr("s3cret"),
        scheduler_target_url=target.url_template(),
        scheduler_stalled_after=60,
    )
    pool = create_pool(database_url, min_size=1, max_size=4, name="test-finish-retry")
    await pool.open()
    http = HttpTarget()
    try:
        executor = BatchExecutor(pool, http, settings)
        caplog.set_level(logging.WARNING, logger="worker.executor")
        batch = asyncio.create_task(executor.run_batch(ids))
        await target.wait_for_async(lambda rs: len(rs) == RUNS, timeout=10)
        await asyncio.to_thread(pg_cluster.stop)
        deadline = time.monotonic() + 20
        while not any(r.__dict__.get("event") == "executor.finish_retry" for r in caplog.records):
            assert time.monotonic() < deadline, "the finish was never retried"
            assert not batch.done(), batch
            await asyncio.sleep(0.05)
        await asyncio.to_thread(pg_cluster.start)
        await asyncio.wait_for(batch, timeout=40)
    finally:
        if not pg_cluster.is_running():
            await asyncio.to_thread(pg_cluster.start)
        await http.aclose()
        await pool.close()

    with psycopg.connect(database_url, autocommit=True) as sync:
        rows = sync.execute(
            "SELECT status, attempts, http_status FROM workflow_schedule_executions"
        ).fetchall()
    assert rows == [("succeeded", 1, 200)] * RUNS
    assert len(target.requests()) == RUNS, "no run was sent twice"


@pytest.mark.timeout(60)
async def test_a_finish_whose_job_deferral_fails_transiently_is_retried(
    database_url: str, target: RecordingTarget, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, L6: a finish also defers jobs (retries, released buffered runs); a transient
    error of that deferral is retried like any other, instead of failing the batch (whose
    runs recovery would send again). The deferral is our own statement since the twelfth
    stop of issue 13 (psycopg's error as it is); through Procrastinate's deferrer it was
    wrapped in `ConnectorException`, which `_transient` still recognises for Procrastinate's
    own statements. The fault: a trigger that fails the first insert of a job with a serialization
    failure, as a failover or a conflicting transaction would."""
    ids = await due_runs(database_url, ["wf-retry"], max_attempts=2)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            """
            CREATE SEQUENCE fault_once_seq;  -- not rolled back with the failed insert
            CREATE FUNCTION fault_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('fault_once_seq') = 1 THEN
                    RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fault_once BEFORE INSERT ON procrastinate_jobs
                FOR EACH ROW EXECUTE FUNCTION fault_once();
            """
        )
    target.script("wf-retry", [Response(503)])
    caplog.set_level(logging.WARNING, logger="worker.executor")
    async with open_executor(database_url, target.url_template(), "test-finish-deferral") as ex:
        await asyncio.wait_for(ex.run_batch(ids), 30)
    retries = [r for r in caplog.records if r.__dict__.get("event") == "executor.finish_retry"]
    assert [r.__dict__["error"] for r in retries] == ["SerializationFailure"]
    with psycopg.connect(database_url, autocommit=True) as sync:
        row = sync.execute(
            "SELECT e.status, e.attempts, j.status FROM workflow_schedule_executions e "
            "JOIN procrastinate_jobs j ON j.id = e.job_id"
        ).fetchone()
    assert row == ("retrying", 1, "todo")  # recorded, and its retry has its job
    assert len(target.requests()) == 1
