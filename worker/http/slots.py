"""Connection slots whose waiters each wait until a deadline, under one timer for all of them.

Why not `asyncio.Semaphore` under `asyncio.timeout_at`: at a crowded instant a worker queues
thousands of requests for the client's slots at once, and a timeout each is an
`asyncio.Timeout`, a timer handle and a reschedule per request. py-spy at a 100,000-slot
instant: those were 14 % of the worker's samples. Here a waiter is one future in a queue and one
entry in a heap of deadlines, and a single timer is armed, for the earliest deadline.

Waiters are served first come, first served; a slot released while some wait passes straight to
the first of them, so a newcomer cannot take it ahead of the queue. A slot is never given past
its waiter's deadline, even when the event loop wakes the waiter late.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools


class SlotExpired(Exception):
    """The deadline passed before a slot was free (the caller says which slots in its error)."""


class DeadlineSlots:
    __slots__ = ("free", "_waiters", "_deadlines", "_order", "_timer", "_timer_at", "_stale")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._deadlines: list[tuple[float, int, asyncio.Future[None]]] = []  # a heap
        self._order = itertools.count()  # ties between equal deadlines, never the futures
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._stale = 0  # entries of `_deadlines` whose waiter is served or cancelled

    def take(self) -> bool:
        """A slot at once if one is free and nobody waits (no suspension, no timer)."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def acquire(self, deadline: float) -> None:
        """A slot, or `SlotExpired` once `deadline` (loop time) has passed."""
        if self.take():
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        heapq.heappush(self._deadlines, (deadline, next(self._order), waiter))
        self._arm(loop)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._stale += 1  # still in the heap
                self._prune()
            # Cancelled after a slot was handed over but before it could run: hand it on.
            elif waiter.exception() is None:
                self.release()
            raise
        if loop.time() >= deadline:  # handed over in time, but the loop woke us too late
            self.release()
            raise SlotExpired()

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # cancelled and expired waiters are skipped here
                waiter.set_result(None)
                self._stale += 1
                self._prune()
                return
        self.free += 1
        self._prune()

    def _prune(self) -> None:
        """Drop the served and cancelled waiters from the heap. From its top as they come (with
        equal timeouts the first served has the earliest deadline); and, when waiters with
        different timeouts leave most entries stale behind an earlier deadline still waiting,
        by rebuilding it, so that it never holds more than about twice the waiters."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][2].done():
            heapq.heappop(deadlines)
            self._stale -= 1
        if self._stale > 64 and 2 * self._stale > len(deadlines):
            self._deadlines = [entry for entry in deadlines if not entry[2].done()]
            heapq.heapify(self._deadlines)
            self._stale = 0

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        earliest = self._deadlines[0][0]
        if self._timer is not None:
            if self._timer_at <= earliest:
                return
            self._timer.cancel()
        self._timer_at = earliest
        self._timer = loop.call_at(earliest, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, waiter = heapq.heappop(deadlines)
            if waiter.done():
                self._stale -= 1
            else:
                waiter.set_exception(SlotExpired())
        self._prune()
        if self._deadlines:  # `_prune` may have rebuilt it
            self._arm(loop)
