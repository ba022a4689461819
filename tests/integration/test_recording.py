"""The executor records the outcomes of batches that end together in one transaction, and
records a batch's outcomes even when the batch's task is cancelled after its sends (a worker
shutting down). Real pool, real database, a real loopback target."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.support.db import due_runs
from tests.support.executor import open_executor
from tests.support.target import RecordingTarget
from worker.executor import BatchExecutor


@pytest.fixture(scope="module")
def target() -> Any:
    with RecordingTarget() as server:
        yield server


async def _due_runs(database_url: str, count: int) -> list[UUID]:
    return await due_runs(database_url, [f"wf-{i}" for i in range(count)])


@pytest.fixture
async def executor(database_url: str, target: RecordingTarget) -> AsyncIterator[BatchExecutor]:
    target.reset()
    async with open_executor(database_url, target.url_template(), "test-recording") as ex:
        yield ex


def _statuses(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM workflow_schedule_executions")]


async def test_batches_that_end_together_share_one_finish(
    database_url: str, executor: BatchExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _due_runs(database_url, 6)
    finishes: list[int] = []
    record = executor._record

    async def counted(results: Any) -> list[UUID]:
        finishes.append(len(results))
        return await record(results)

    monkeypatch.setattr(executor, "_record", counted)
    await asyncio.gather(*(executor.run_batch(ids[i : i + 2]) for i in range(0, 6, 2)))
    assert finishes == [6]
    assert _statuses(database_url) == ["succeeded"] * 6


async def test_a_batch_cancelled_after_its_sends_is_still_recorded(
    database_url: str, executor: BatchExecutor, target: RecordingTarget
) -> None:
    ids = await _due_runs(database_url, 3)
    batch = asyncio.create_task(executor.run_batch(ids))
    await target.wait_for_async(lambda rs: len(rs) == 3, timeout=10)
    deadline = asyncio.get_running_loop().time() + 10
    while len(executor._waiting) < 3:  # the answers are in; the batch waits for its recording
        assert asyncio.get_running_loop().time() < deadline, "the batch never got to recording"
        await asyncio.sleep(0.005)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert executor._flush is not None
    await executor._flush
    assert _statuses(database_url) == ["succeeded"] * 3
