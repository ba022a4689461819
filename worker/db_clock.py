"""The database clock as this process sees it, to send each request at its instant.

Fire instants are on the database clock (SPEC §4.1), but a worker waits with its own timers.
Waiting "fire_at − the database's now, counted from when the answer came back" is late by
however long the answer took to come back and be read: under load that was tens of ms, and it
was most of the fire lag left after the HTTP client work (docs/benchmarks.md). So, as NTP does,
the process asks the database for its clock every few seconds and keeps, from the recent
samples, the one with the shortest round trip: its error is at most half that round trip
(~0.1 ms on a quiet loopback). Offsets are against `time.monotonic()`, so a step of this
machine's wall clock changes nothing; a step of the database's clock is picked up at the
next sample.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from db.clock import db_now
from db.types import Pool
from worker.service import Service, ServiceConfig

log = logging.getLogger("worker.db_clock")


@dataclass(frozen=True, slots=True)
class Sample:
    taken_at: float  # monotonic
    round_trip: float  # seconds
    offset: float  # database unix time − monotonic time, at the middle of the round trip


class DbClock:
    def __init__(self, window_seconds: float = 60.0) -> None:
        self.window_seconds = window_seconds
        self._samples: collections.deque[Sample] = collections.deque()
        self._best: Sample | None = None

    def add(self, db_time: datetime, sent: float, received: float) -> None:
        """One reading of the database clock, asked at `sent` and answered at `received`
        (both `time.monotonic()`)."""
        middle = (sent + received) / 2
        sample = Sample(received, received - sent, db_time.timestamp() - middle)
        self._samples.append(sample)
        while self._samples and self._samples[0].taken_at < received - self.window_seconds:
            self._samples.popleft()
        self._best = min(self._samples, key=lambda s: s.round_trip)

    def monotonic_at(self, instant: datetime) -> float | None:
        """When `instant` (database clock) has surely come, in `time.monotonic()` (the estimate
        plus its error bound); None before a sample."""
        if self._best is None:
            return None
        # The latest the instant can be on this estimate: sending early is never allowed.
        return instant.timestamp() - self._best.offset + self._best.round_trip / 2

    def unix_now(self) -> float:
        """The database's unix time now, as estimated here; this process's own wall clock
        until the first sample. What the webhook signature is stamped with (issue 10, M3)."""
        if self._best is None:
            return time.time()
        return time.monotonic() + self._best.offset

    def now(self) -> datetime:
        """`unix_now` as an aware UTC datetime (dates an answer's `Retry-After`)."""
        return datetime.fromtimestamp(self.unix_now(), UTC)

    @property
    def error_bound(self) -> float | None:
        """Half the best round trip: how far off the estimate can be, in seconds."""
        return None if self._best is None else self._best.round_trip / 2

    async def sample(self, pool: Pool) -> None:
        async with pool.connection() as conn:
            sent = time.monotonic()
            now = await db_now(conn)
            received = time.monotonic()
        self.add(now, sent, received)


class DbClockSampler(Service[None]):
    """Samples the database clock into a `DbClock` every `period` seconds (three samples at
    first, to start from a good one). A failed sample is logged and retried; batches keep the
    last estimate meanwhile."""

    def __init__(self, clock: DbClock, pool: Pool, config: ServiceConfig | None = None) -> None:
        super().__init__(config or ServiceConfig("db_clock", period=2.0, max_backoff=2.0))
        self.db_clock = clock
        self.pool = pool

    async def run_once(self, now: datetime | None) -> None:
        for _ in range(3 if self.db_clock.error_bound is None else 1):
            await self.db_clock.sample(self.pool)
