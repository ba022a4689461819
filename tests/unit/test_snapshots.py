"""The snapshot behind /metrics and /ready: reused within its interval, one computation in
flight however many callers, failures not kept."""

from __future__ import annotations

import asyncio

import pytest

from app.api.snapshots import Snapshot


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_callers_share_one_computation() -> None:
    clock = FakeMonotonic()
    snapshot: Snapshot[int] = Snapshot(5.0, clock)
    calls = 0

    async def scenario() -> None:
        nonlocal calls
        release = asyncio.Event()

        async def compute() -> int:
            nonlocal calls
            calls += 1
            await release.wait()
            return calls

        waiting = [asyncio.create_task(snapshot.get(compute)) for _ in range(50)]
        await asyncio.sleep(0)  # every caller is now waiting on the one computation
        release.set()
        assert await asyncio.gather(*waiting) == [1] * 50
        clock.now += 4.9  # within the interval: no new computation
        assert await snapshot.get(compute) == 1
        clock.now += 0.1  # stale: the next caller computes again
        assert await snapshot.get(compute) == 2

    asyncio.run(scenario())
    assert calls == 2


def test_a_failed_computation_is_not_kept() -> None:
    snapshot: Snapshot[str] = Snapshot(60.0, FakeMonotonic())

    async def failing() -> str:
        raise RuntimeError("database down")

    async def working() -> str:
        return "ok"

    async def scenario() -> None:
        with pytest.raises(RuntimeError):
            await snapshot.get(failing)
        assert await snapshot.get(working) == "ok"
        assert await snapshot.get(failing) == "ok"  # now fresh: not recomputed

    asyncio.run(scenario())


def test_zero_interval_computes_every_time() -> None:
    snapshot: Snapshot[int] = Snapshot(0.0, FakeMonotonic())
    values = iter(range(10))

    async def compute() -> int:
        return next(values)

    async def scenario() -> list[int]:
        return [await snapshot.get(compute) for _ in range(3)]

    assert asyncio.run(scenario()) == [0, 1, 2]
