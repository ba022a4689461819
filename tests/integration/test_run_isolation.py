"""A batch's runs do not wait for each other (issue 10, H1, and the runtime half of M2).

- A run answered at once is recorded while a batch-mate's target is still silent.
- The local runner's capacity counts batches waiting for their instant, not answers to come.
- A batch Procrastinate's worker fetched hands its runs in flight over to the local runner:
  the runs point at a job of their own, `doing` under the runner's identity, which ends when
  they are recorded.
- A request that cannot be built ends in a recorded failed attempt, not in a failed job that
  recovery would start again and again.

Real pool, real database, Procrastinate's real job manager, a real loopback target.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from procrastinate import App, PsycopgConnector
from psycopg.rows import dict_row
from pydantic import SecretStr

from db.jobs import BATCH_SIZE
from tests.support.db import due_runs
from tests.support.executor import open_executor
from tests.support.target import RecordingTarget
from worker.local import BYTES_PER_PREPARED_RUN, LocalRunner


@pytest.fixture
def target() -> Any:
    with RecordingTarget() as server:
        yield server


def _rows(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT e.workflow_id, e.status, e.attempts, e.error, e.job_id, j.status AS job_status,"
            " j.worker_id FROM workflow_schedule_executions e"
            " LEFT JOIN procrastinate_jobs j ON j.id = e.job_id"
        ).fetchall()
    return {row["workflow_id"]: row for row in rows}


async def _until(condition: Any, what: str, timeout: float = 10) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def runtime(database_url: str, target: RecordingTarget) -> AsyncIterator[LocalRunner]:
    app = App(connector=PsycopgConnector(conninfo=database_url, min_size=1, max_size=2))
    await app.open_async()
    try:
        async with open_executor(database_url, target.url_template(), "test-isolation") as ex:
            # Room for two batches of runs waiting for their instant.
            budget = 2 * BATCH_SIZE * BYTES_PER_PREPARED_RUN
            runner = LocalRunner(app, ex, memory_budget=budget, heartbeat_interval=60)
            await runner.open()
            try:
                yield runner
            finally:
                target.stop()  # the silent requests end now, not at their timeout
                await runner.close(grace_seconds=5)
    finally:
        await app.close_async()


async def test_a_run_answered_at_once_is_recorded_while_its_batch_mate_is_still_silent(
    database_url: str, runtime: LocalRunner, target: RecordingTarget
) -> None:
    target.set_delay("slow", 60)
    ids = await due_runs(database_url, ["slow", "fast"])
    batch = await runtime.executor.launch(ids)
    await _until(lambda: _rows(database_url)["fast"]["status"] == "succeeded", "fast recorded")
    # The batch learns of the commit just after it is visible: wait for that, not for `slow`.
    await _until(lambda: batch.unrecorded == {ids[0]}, "the batch to count fast as recorded")
    assert _rows(database_url)["slow"]["status"] == "running"
    assert not batch.recorded.done()


async def test_capacity_counts_runs_waiting_for_their_instant_not_answers(
    database_url: str, runtime: LocalRunner, target: RecordingTarget
) -> None:
    target.set_delay("slow-1", 60)
    target.set_delay("slow-2", 60)
    ids = await due_runs(database_url, ["slow-1", "slow-2"])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        job_ids = []
        for run in ids:  # one job per run, claimed by the runner as the dispatcher does
            cursor = await conn.execute(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = "
                "(SELECT job_id FROM workflow_schedule_executions WHERE id = %s) RETURNING id",
                (runtime.worker_id, run),
            )
            row = await cursor.fetchone()
            assert row is not None
            job_ids.append(row[0])
    assert runtime.free == 2
    runtime.start([(job_ids[0], [ids[0]]), (job_ids[1], [ids[1]])])
    await target.wait_for_async(lambda got: len(got) == 2, timeout=10)
    await asyncio.sleep(0.05)
    assert runtime.free == 2, "two silent targets must not use up the runner"
    rows = _rows(database_url)
    assert {rows[w]["job_status"] for w in ("slow-1", "slow-2")} == {"doing"}


async def test_a_fetched_batch_hands_its_runs_in_flight_over_to_the_local_runner(
    database_url: str, runtime: LocalRunner, target: RecordingTarget
) -> None:
    target.set_delay("slow", 1.5)
    ids = await due_runs(database_url, ["slow", "fast"])
    before = _rows(database_url)
    started = asyncio.get_running_loop().time()
    await runtime.run_fetched(ids)  # what the Procrastinate task runs
    assert asyncio.get_running_loop().time() - started < 1.4, "it waited for the slow answer"
    rows = _rows(database_url)
    assert rows["fast"]["status"] == "succeeded"
    assert rows["slow"]["status"] == "running"
    assert rows["slow"]["job_id"] != before["slow"]["job_id"]
    assert (rows["slow"]["job_status"], rows["slow"]["worker_id"]) == ("doing", runtime.worker_id)
    await _until(lambda: _rows(database_url)["slow"]["status"] == "succeeded", "slow recorded")
    await _until(lambda: _rows(database_url)["slow"]["job_status"] is None, "its job to end")
    assert len(target.requests()) == 2


async def test_a_request_that_cannot_be_built_is_a_recorded_failed_attempt(
    database_url: str, runtime: LocalRunner, target: RecordingTarget
) -> None:
    executor = runtime.executor
    # Start-up validation refuses such a secret; this is the runtime's own guard behind it.
    executor.settings = executor.settings.model_copy(
        update={"internal_api_secret": SecretStr("whsec_%%%-not-base64")}
    )
    ids = await due_runs(database_url, ["wf"])
    await executor.run_batch(ids)  # before: raised ConfigError, the run stayed `running`
    row = _rows(database_url)["wf"]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "INTERNAL_API_SECRET" in row["error"] and "%%%" not in row["error"]
    assert target.requests() == []


async def test_a_stopping_worker_records_the_outcomes_already_in_before_it_closes(
    database_url: str, runtime: LocalRunner, target: RecordingTarget
) -> None:
    executor = runtime.executor
    ids = await due_runs(database_url, ["wf-1", "wf-2"])
    await executor.launch(ids)
    await _until(lambda: len(executor._waiting) == 2, "both answers in")
    await executor.drain(timeout=5)  # what LocalRunner.close does before the pool closes
    assert {row["status"] for row in _rows(database_url).values()} == {"succeeded"}
