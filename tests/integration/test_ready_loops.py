"""/ready fails when a supervised loop of the API is dead, the read router's probe included.

Before: only the alerts watcher was checked, so a read probe that had stopped passing (its
verdict frozen, reads left on a replica whatever its lag) kept /ready green."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from litestar.datastructures import State

from app.api.routes.health import _readiness_answer
from app.domain.replication import ReadVerdict
from app.supervised import Health
from db.pool import create_pool
from db.types import Pool


class Probe:
    """What /ready reads of the read router: its verdict and its loop's health."""

    def __init__(self, last_success_ago: float) -> None:
        self.verdict = ReadVerdict(True, "replica", 0.1)
        self.last_success_at = time.monotonic() - last_success_ago

    def health(self) -> Health:
        return Health("read.probe", 30.0, time.monotonic() - 3600, self.last_success_at, 0, None)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    opened = create_pool(database_url, max_size=1)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def state(pool: Pool, probe: Probe) -> State:
    return State(
        {
            "pool": pool,
            "settings": SimpleNamespace(api_database_wait_seconds=5.0),
            "alerts_watcher": None,
            "read_router": probe,
        }
    )


async def test_a_probe_that_passes_leaves_the_api_ready(pool: Pool) -> None:
    body, status = await _readiness_answer(state(pool, Probe(last_success_ago=1)))
    assert (status, body["status"], body["readReplica"]) == (200, "ready", "replica")


async def test_a_dead_probe_makes_the_api_unready_and_says_why(pool: Pool) -> None:
    body, status = await _readiness_answer(state(pool, Probe(last_success_ago=31)))
    assert (status, body["status"]) == (503, "unavailable")
    assert body["readReplica"] == "stale: no successful pass for 31 s"
