"""The executor's releaser: requests leave at their instant, never before, a bounded number at a
time, the recording can wait for an instant's sends to be out, and the garbage collector stays
off while a crowd of them waits for a sender."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any
from uuid import uuid4

from worker.collector import CrowdPause
from worker.executor import Batch
from worker.http.wire import Request
from worker.releaser import Releaser


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


async def test_the_collector_is_off_while_a_crowd_waits_for_senders_and_back_on_after() -> None:
    """worker/collector.py: at a crowded instant the collector's walks of every held run were a
    quarter of the worker's CPU; it is off while requests wait for a sender, on again after."""
    assert gc.isenabled()
    release = asyncio.Event()
    seen: list[bool] = []

    async def attempt(item: Any, prepared: Any, batch: Batch) -> None:
        seen.append(gc.isenabled())
        await release.wait()

    releaser = Releaser(attempt, max_sending=2, crowd_pause=CrowdPause())
    batch = Batch([uuid4() for _ in range(5)])
    batch.unsent = 5
    batch.out = asyncio.get_running_loop().create_future()
    try:
        releaser.add(time.monotonic(), [(None, None, batch)] * 5)  # type: ignore[list-item]
        await asyncio.sleep(0)
        assert not gc.isenabled(), "3 requests wait for a sender: the collector is off"
        release.set()
        await asyncio.wait_for(batch.out, 5)
        await releaser.drained(timeout=5)
        assert gc.isenabled(), "the crowd has gone: the collector is on again"
        assert seen[:2] == [False, False]
    finally:
        gc.enable()


async def test_a_crowd_that_lasts_gets_the_collector_back_after_the_longest_pause() -> None:
    pause = CrowdPause(longest=0.05)
    try:
        pause.begin()
        assert not gc.isenabled() and pause._timer is not None
        loop = asyncio.get_running_loop()
        past_it = loop.create_future()
        loop.call_at(pause._timer.when() + 0.01, past_it.set_result, None)
        await asyncio.wait_for(past_it, 5)
        assert gc.isenabled(), "back on after `longest`, the crowd still there"
        pause.begin()
        assert gc.isenabled(), "one pause per crowd"
        pause.end()
        pause.begin()
        assert not gc.isenabled(), "a new crowd has its own"
        pause.end()
        assert gc.isenabled()
    finally:
        gc.enable()


async def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    try:
        pause = CrowdPause()
        pause.begin()
        pause.end()
        assert not gc.isenabled()
    finally:
        gc.enable()


SHARED = ("http", "workflows.internal", 80)
OWN = ("http", "tenant.example", 443)


def _items(batch: Batch, origin: tuple[str, str, int], count: int) -> list[Any]:
    return [(None, ((), Request(origin, b"")), batch)] * count


def _batch(count: int) -> Batch:
    batch = Batch([uuid4() for _ in range(count)])
    batch.unsent = count
    batch.out = asyncio.get_running_loop().create_future()
    return batch


async def test_the_shared_targets_sends_have_a_lane_of_their_own_with_its_own_bound() -> None:
    """At most `paced` sends to the shared target at once; the others wait in the queue, not as
    tasks; a schedule's own target is not held behind them, nor they behind it."""
    release = asyncio.Event()
    started: list[tuple[str, str, int]] = []

    async def attempt(item: Any, prepared: Any, batch: Batch) -> None:
        started.append(prepared[1].origin)
        await release.wait()

    releaser = Releaser(attempt, max_sending=5, paced_origins=[SHARED], paced=2, paced_escape=60)
    batch = _batch(16)
    releaser.add(time.monotonic(), _items(batch, SHARED, 10) + _items(batch, OWN, 6))
    await asyncio.sleep(0)
    assert started.count(SHARED) == 2 and started.count(OWN) == 5
    release.set()
    await asyncio.wait_for(batch.out, 5)
    await releaser.drained(timeout=5)
    assert started.count(SHARED) == 10 and started.count(OWN) == 6


class HeldSends:
    """An attempt that records when each send started and holds it until `release`; `reached`
    is set once `count` sends have started."""

    def __init__(self, count: int) -> None:
        self.started: list[float] = []
        self.release = asyncio.Event()
        self.reached = asyncio.Event()
        self.count = count

    async def __call__(self, item: Any, prepared: Any, batch: Batch) -> None:
        self.started.append(time.monotonic())
        if len(self.started) == self.count:
            self.reached.set()
        await self.release.wait()


async def _one_paced_then_slow(
    attempt: HeldSends, max_sending: int, count: int
) -> tuple[Releaser, Batch]:
    """`count` requests to the shared target, one paced at a time, a send slow after 50 ms:
    the first has left, the others wait."""
    releaser = Releaser(
        attempt, max_sending=max_sending, paced_origins=[SHARED], paced=1, paced_escape=0.05
    )
    batch = _batch(count)
    releaser.add(time.monotonic(), _items(batch, SHARED, count))
    await asyncio.sleep(0)
    assert len(attempt.started) == 1
    return releaser, batch


async def test_a_slow_send_to_the_shared_target_stops_counting() -> None:
    """A workflow slow for some runs: the next request goes without waiting for the slow one,
    and the pace still holds for what comes next."""
    attempt = HeldSends(2)
    started, release = attempt.started, attempt.release
    releaser, batch = await _one_paced_then_slow(attempt, max_sending=5, count=2)
    await asyncio.wait_for(attempt.reached.wait(), 5)
    assert len(started) == 2 and started[1] - started[0] >= 0.05  # not after the release
    release.set()
    await asyncio.wait_for(batch.out, 5)
    await asyncio.sleep(0.01)  # both sends ended: the first after it had escaped

    release.clear()
    started.clear()
    later = _batch(2)
    releaser.add(time.monotonic(), _items(later, SHARED, 2))
    await asyncio.sleep(0)
    assert len(started) == 1, "still paced: one at a time"
    release.set()
    await asyncio.wait_for(later.out, 5)


async def test_a_silent_shared_targets_lane_still_holds_at_most_max_sending() -> None:
    """A default target that never answers: its sends stop counting one pace after another, up
    to `max_sending` sends open and no more; the rest wait in the queue, not as tasks."""
    attempt = HeldSends(3)
    started, release = attempt.started, attempt.release
    _, batch = await _one_paced_then_slow(attempt, max_sending=3, count=5)
    await asyncio.wait_for(attempt.reached.wait(), 5)
    assert started[2] - started[1] >= 0.05, "one more a pace"
    await asyncio.sleep(0.15)  # three more escapes' worth
    assert len(started) == 3
    release.set()
    await asyncio.wait_for(batch.out, 5)
    assert len(started) == 5
