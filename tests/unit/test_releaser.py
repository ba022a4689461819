"""The executor's releaser: requests leave at their instant, never before, a bounded number at a
time, and the recording can wait for an instant's sends to be out."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

from worker.executor import Batch, Releaser


async def test_requests_leave_at_their_instant_a_bounded_number_at_a_time() -> None:
    started: list[float] = []
    running = 0
    most = 0
    release = asyncio.Event()
    third = asyncio.Event()

    async def attempt(item: Any, prepared: Any, batch: Batch) -> None:
        nonlocal running, most
        started.append(time.monotonic())
        if len(started) == 3:
            third.set()
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    releaser = Releaser(attempt, max_sending=3)
    batch = Batch([uuid4() for _ in range(10)])
    batch.unsent = 10
    batch.out = asyncio.get_running_loop().create_future()
    instant = time.monotonic() + 0.05
    releaser.add(instant, [(None, None, batch)] * 10)  # type: ignore[list-item]
    await asyncio.sleep(0)
    assert started == [], "nothing before the instant"
    await asyncio.wait_for(third.wait(), 5)
    drained = asyncio.create_task(releaser.drained(timeout=5))
    await asyncio.sleep(0)
    assert min(started) >= instant
    assert not batch.out.done() and not drained.done(), "7 requests still to leave"
    release.set()
    await asyncio.wait_for(batch.out, 5)
    await asyncio.wait_for(drained, 5)
    assert len(started) == 10 and most == 3


async def test_a_cancelled_batch_sends_nothing_more() -> None:
    sent = 0

    async def attempt(item: Any, prepared: Any, batch: Batch) -> None:
        nonlocal sent
        sent += 1

    releaser = Releaser(attempt, max_sending=10)
    batch = Batch([uuid4()])
    batch.unsent = 5
    batch.out = asyncio.get_running_loop().create_future()
    releaser.add(time.monotonic() + 0.02, [(None, None, batch)] * 5)  # type: ignore[list-item]
    batch.cancel()
    assert batch.out.done()
    await asyncio.sleep(0.05)  # past the instant: what it would have sent is gone
    await releaser.drained(timeout=1)
    assert sent == 0
