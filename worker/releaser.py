"""Sends the process's prepared requests at their instants, a bounded number at a time.

One timer per instant; at the instant, sends start from a queue as earlier ones end, each a
task. Why not a task per request at the instant: 50,000 runs of one instant held by a worker
were 50,000 tasks created in one go (with the garbage collections that many allocations
trigger) before the first request could leave: about a second of stall at the instant
(`python -m bench --only burst`, docs/benchmarks.md). A request waiting in the queue costs
nothing; one waiting as a task for a connection slot costs a task, a future and a wake-up.

Two lanes, each with its own queue and each with at most `max_sending` sends open (twice the
HTTP client's connections, which leaves room for the requests waiting for a slow origin's
capped slots, issue 10 H1, so that one silent origin does not hold up the others' sends; a
process holds at most twice that many send tasks in all):
- the shared default target's lane is paced: at most `paced` (SCHEDULER_TARGET_CONNECTIONS)
  of its sends at once. Over 100 connections a worker, a crowded instant's requests arrived
  sooner and cost less CPU than over up to 1,000 (docs/benchmarks.md, fifteenth stop: every
  socket is one more to wake, read and write on a machine that is the bottleneck then, and
  every request past the bound used to wait as a task). A send still unanswered after
  `ESCAPE_SECONDS` stops counting: a straggler, or a workflow slow for some runs, does not
  hold the others behind the pace. The cost: an endpoint slower than that gets at most
  `paced` new sends per `ESCAPE_SECONDS` (5,000 a second a worker with the defaults, against
  its connections ÷ its answer time before); SCHEDULER_TARGET_CONNECTIONS raises it, 0 turns
  the pace off. Raising the pace when most sends are slow, or lifting it at the first slow
  one, was tried and lost the gain: at a crowded instant many loopback answers wait longer
  than that behind this worker's own work (docs/benchmarks.md, fifteenth stop);
- every other request (schedules' own targets).
The lanes do not wait on each other's queues (they share the HTTP client's connections).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
from collections.abc import Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any

from worker.collector import CrowdPause

if TYPE_CHECKING:
    from app.services.attempts import Attempt
    from worker.executor import Batch, Prepared
    from worker.http.wire import Origin

    Item = tuple[Attempt, Prepared, Batch]

ESCAPE_SECONDS = 0.02
"""A paced send unanswered after this is slow: above a loopback answer's time at a crowded
instant over 100 connections a worker on this 2-core machine (~7 ms), below most remote
endpoints'."""


class _Lane:
    """A queue of requests whose instant has come, and the sends started from it."""

    __slots__ = ("due", "limit", "paced", "escape", "open", "started", "timer")

    def __init__(
        self, limit: int, paced: int | None = None, escape: float = ESCAPE_SECONDS
    ) -> None:
        self.due: collections.deque[Item] = collections.deque()
        self.limit = limit  # sends open at once, always
        self.paced = paced  # ...and at most this many counted ones (None: not paced)
        self.escape = escape
        self.open = 0  # started, not ended
        # The counted sends (paced lanes), oldest first: when each started.
        self.started: dict[asyncio.Task[None], float] = {}
        self.timer: asyncio.TimerHandle | None = None

    def has_room(self) -> bool:
        if self.open >= self.limit:
            return False
        return self.paced is None or len(self.started) < self.paced


class Releaser:
    def __init__(
        self,
        attempt: Callable[[Attempt, Prepared, Batch], Coroutine[Any, Any, None]],
        max_sending: int,
        crowd_pause: CrowdPause | None = None,
        *,
        paced_origins: Collection[Origin] = (),
        paced: int = 0,
        paced_escape: float = ESCAPE_SECONDS,
    ) -> None:
        """`crowd_pause`: the garbage collector off while requests wait for a sender
        (worker/collector.py says why). Requests to `paced_origins` go through their own lane
        of `paced` sends at once (0: no such lane), a send unanswered after `paced_escape`
        seconds no longer counted."""
        self._attempt = attempt
        self._crowd_pause = crowd_pause
        self._other = _Lane(max_sending)
        self._paced = _Lane(max_sending, paced, paced_escape) if paced and paced_origins else None
        self._paced_origins = frozenset(paced_origins)
        self._lanes = [self._other] if self._paced is None else [self._paced, self._other]
        self._waiting: dict[float, list[Item]] = {}  # by instant (time.monotonic())
        self._drained: asyncio.Future[None] | None = None  # resolved when no lane has any due

    def stopping(self) -> None:
        """The process is stopping: the garbage collector is back on, whatever still waits."""
        if self._crowd_pause is not None:
            self._crowd_pause.end()

    async def drained(self, timeout: float) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Until every request whose instant has come is started (at once when none waits),
        or `timeout` seconds."""
        if not self._any_due():
            return
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._drained), timeout)

    def add(self, send_at: float, items: list[Item]) -> None:
        if send_at <= time.monotonic():
            self._queue(items)
            self._pump()
            return
        waiting = self._waiting.get(send_at)
        if waiting is None:
            self._waiting[send_at] = waiting = []
            self._arm(send_at)
        waiting.extend(items)

    def _any_due(self) -> bool:
        return any(lane.due for lane in self._lanes)

    def _queue(self, items: list[Item]) -> None:
        paced = self._paced
        if paced is None:
            self._other.due.extend(items)
            return
        origins = self._paced_origins
        for item in items:
            request = item[1][1]
            lane = paced if getattr(request, "origin", None) in origins else self._other
            lane.due.append(item)

    def _arm(self, send_at: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, send_at - time.monotonic()), self._instant, send_at)

    def _instant(self, send_at: float) -> None:
        # uvloop's timers may fire up to 1 ms early, and a request must never leave before
        # its slot: armed again for what is left.
        if send_at > time.monotonic():
            self._arm(send_at)
            return
        self._queue(self._waiting.pop(send_at, []))
        self._pump()

    def _pump(self) -> None:
        for lane in self._lanes:
            self._start(lane)
        if self._crowd_pause is not None:
            if self._any_due():
                self._crowd_pause.begin()
            else:
                self._crowd_pause.end()
        if not self._any_due() and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _start(self, lane: _Lane) -> None:
        due = lane.due
        while due and lane.has_room():
            attempt, prepared, batch = due.popleft()
            if batch.cancelled:
                continue
            lane.open += 1
            send = asyncio.create_task(self._attempt(attempt, prepared, batch))
            send.add_done_callback(functools.partial(self._ended, lane))
            if lane.paced is not None:
                lane.started[send] = time.monotonic()
            batch.sends.append(send)
            batch._sent(1)
        if due and lane.started and lane.timer is None:
            # Paced, full, and requests wait: look again when the oldest send would be slow.
            oldest = next(iter(lane.started.values()))
            lane.timer = asyncio.get_running_loop().call_later(
                max(0.0, oldest + lane.escape - time.monotonic()), self._look_again, lane
            )

    def _look_again(self, lane: _Lane) -> None:
        """The sends unanswered for `escape` seconds stop counting."""
        lane.timer = None
        started = lane.started
        slow_since = time.monotonic() - lane.escape
        while started and next(iter(started.values())) <= slow_since:
            del started[next(iter(started))]
        self._pump()

    def _ended(self, lane: _Lane, send: asyncio.Task[None]) -> None:
        lane.open -= 1
        lane.started.pop(send, None)
        self._pump()
