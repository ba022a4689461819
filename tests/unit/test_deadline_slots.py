"""The HTTP client's connection slots (worker/http/slots.py): first come, first served, each
waiter until its own deadline, under one timer for all of them."""

from __future__ import annotations

import asyncio
import time

import pytest

from worker.http.slots import DeadlineSlots, SlotExpired


async def test_a_free_slot_is_taken_at_once_and_a_released_one_goes_to_the_first_waiter() -> None:
    slots = DeadlineSlots(1)
    loop = asyncio.get_running_loop()
    assert slots.take() and not slots.take()
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.acquire(loop.time() + 5)
        order.append(name)

    first, second = asyncio.create_task(wait("first")), asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    slots.release()
    assert not slots.take(), "a released slot goes to a waiter, not to a newcomer"
    await first
    slots.release()
    await second
    assert order == ["first", "second"]
    slots.release()
    assert slots.free == 1


async def test_each_waiter_expires_at_its_own_deadline_with_one_timer() -> None:
    slots = DeadlineSlots(1)
    loop = asyncio.get_running_loop()
    assert slots.take()
    late = asyncio.create_task(slots.acquire(loop.time() + 5))
    soon = asyncio.create_task(slots.acquire(loop.time() + 0.05))
    sooner = asyncio.create_task(slots.acquire(loop.time() + 0.02))
    await asyncio.sleep(0)
    assert slots._timer is not None and slots._timer_at <= loop.time() + 0.02
    with pytest.raises(SlotExpired):
        await asyncio.wait_for(sooner, 1)
    assert not soon.done(), "expired at its own deadline, not at the first one"
    with pytest.raises(SlotExpired):
        await asyncio.wait_for(soon, 1)
    assert not late.done()
    slots.release()
    await asyncio.wait_for(late, 1)  # the expired ones were skipped: the slot went to it
    slots.release()
    assert slots.free == 1 and slots._deadlines == []


async def test_a_cancelled_waiter_loses_its_place_and_leaks_no_slot() -> None:
    slots = DeadlineSlots(1)
    loop = asyncio.get_running_loop()
    assert slots.take()
    gone = asyncio.create_task(slots.acquire(loop.time() + 5))
    await asyncio.sleep(0)
    gone.cancel()
    slots.release()  # nobody left waiting: the slot is free again
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert slots.free == 1

    assert slots.take()
    handed = asyncio.create_task(slots.acquire(loop.time() + 5))
    await asyncio.sleep(0)
    slots.release()  # handed over to `handed`...
    handed.cancel()  # ...which is cancelled before it runs: the slot is handed on
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert slots.free == 1


async def test_waiters_of_mixed_timeouts_leave_no_heap_of_served_entries_behind() -> None:
    """Served in arrival order, kept in deadline order: a waiter with a shorter timeout that came
    later sits on top of the heap, and every waiter served before it would stay in the heap until
    its own deadline (up to an hour) unless the heap is rebuilt."""
    slots = DeadlineSlots(1)
    loop = asyncio.get_running_loop()
    assert slots.take()
    patient = [asyncio.create_task(slots.acquire(loop.time() + 3_600)) for _ in range(1_000)]
    await asyncio.sleep(0)
    hurried = asyncio.create_task(slots.acquire(loop.time() + 30))  # last in line, first due
    await asyncio.sleep(0)
    for waiter in patient:
        slots.release()  # the holder is done: the slot goes to the next patient waiter
        await waiter
    assert len(slots._deadlines) <= 2 * 64 + 2, len(slots._deadlines)
    gone = asyncio.create_task(slots.acquire(loop.time() + 3_600))
    await asyncio.sleep(0)
    gone.cancel()  # a cancelled waiter is stale too
    with pytest.raises(asyncio.CancelledError):
        await gone
    slots.release()
    await asyncio.wait_for(hurried, 1)
    slots.release()
    assert slots.free == 1


async def test_a_slot_handed_over_after_the_deadline_is_not_used() -> None:
    """The loop may wake a waiter later than its deadline: it must not send with no time left."""
    slots = DeadlineSlots(1)
    loop = asyncio.get_running_loop()
    assert slots.take()
    late = asyncio.create_task(slots.acquire(loop.time() + 0.01))
    await asyncio.sleep(0)
    # The fault under test: the loop is busy past the deadline, so no timer can run meanwhile.
    time.sleep(0.02)  # noqa: ASYNC251
    slots.release()  # handed over before the timer ran: the waiter wakes past its deadline
    with pytest.raises(SlotExpired):
        await late
    assert slots.free == 1, "the slot was handed back, not lost"
