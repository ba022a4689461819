"""The worker process and Python's cyclic garbage collector.

A full collection walks every object the collector tracks and pauses the event loop meanwhile.
A worker holds a lot of them on purpose: its modules and pools for good, and before a crowded
instant every run prepared for it (its share of a 100,000-slot instant is ~50,000 runs of
~4 KB each, within `SCHEDULER_PREPARED_RUNS_MEMORY_MB`).
Three rules keep those walks off the fire instants, and out of the steady cost of a slot:

- `freeze_startup_heap`: what the process holds once it has started stays out of every later
  collection (`gc.freeze`);
- then the youngest generation is collected far less often (`STEADY_THRESHOLDS`);
- `CrowdPause`: while an instant's requests wait for a sender, automatic collections are off.
  The sends allocate tasks and futures by the hundred thousand; each allocation burst triggers
  collections, and the older generations' walk every held run. py-spy (`--native`) at a
  50,000-slot instant: `gc_collect_main` was 27 % of the workers' samples, ahead of the
  `write` system calls (10 %). What a send leaves behind is freed by reference counting; the
  rare cycle waits for the collector to be back on, which is bounded (`longest`).
"""

from __future__ import annotations

import asyncio
import gc

CROWD_PAUSE_LONGEST_SECONDS = 10.0
"""The longest automatic collections stay off for one crowd: past it (a target so slow that the
crowd's sends take longer), they are back on until the crowd has gone, so that cyclic garbage
cannot grow for as long as the crowd lasts."""


STEADY_THRESHOLDS = (50_000, 10, 10)
"""The collector's thresholds once the process has started (Python's defaults: 700, 10, 10).
The youngest generation is collected when the objects allocated outnumber those freed by the
threshold. Every 700, a batch's objects (its claimed schedules, requests and outcomes, alive
together for the batch) were walked again and again, and promoted into the older generations
to be walked there until they died; every 50,000, a steady worker's batches are freed by
reference counting before any walk (docs/benchmarks.md: the share of a steady worker's CPU
its collections took). Garbage in cycles is still collected: a cycle made since the last
collection waits for at most about a threshold's worth of allocations; one whose objects
were alive at a collection (promoted) waits for the older generations, whose thresholds stay
Python's (10 collections of the younger one each). What a cycle holds (an answer's body, an
input) is not counted: the bound is in objects, not bytes."""


def freeze_startup_heap() -> None:
    """Keep what the process holds once it has started (modules, classes, pools: tens of
    thousands of objects, all for good) out of every later garbage collection (`gc.freeze`).
    A full collection walks every object it tracks and pauses the event loop meanwhile; one
    that lands on a fire instant delays that instant's sends. Freezing the start-up heap takes
    those objects out of the walk (measured with a gc.callbacks probe in
    tests/faults/test_tarpit.py: see the commit that added this). Garbage is collected first,
    so nothing unreachable is frozen. From then on the collector runs at STEADY_THRESHOLDS."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*STEADY_THRESHOLDS)


class CrowdPause:
    """Automatic garbage collection off while a crowd of requests waits for senders (`begin`),
    back on when the crowd has gone (`end`) or after `longest` seconds, whichever comes first;
    once a crowd has had its pause, it gets no second one (`end` resets that).

    It turns the collector back on only if it turned it off: a process (a test, a profiler)
    that runs with the collector off keeps it off."""

    __slots__ = ("_longest", "_timer", "_spent")

    def __init__(self, longest: float = CROWD_PAUSE_LONGEST_SECONDS) -> None:
        self._longest = longest
        self._timer: asyncio.TimerHandle | None = None  # set while the collector is off
        self._spent = False  # this crowd has had its pause

    @property
    def active(self) -> bool:
        return self._timer is not None

    def begin(self) -> None:
        if self._spent or not gc.isenabled():
            return
        self._spent = True
        gc.disable()
        self._timer = asyncio.get_running_loop().call_later(self._longest, self._resume)

    def end(self) -> None:
        self._spent = False
        self._resume()

    def _resume(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            gc.enable()
