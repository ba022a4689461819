"""A per-tenant token bucket for the requests that create runs on demand (trigger, backfill).

One manual trigger is cheap, but a client in a loop turns the API into a load generator for the
workers and the workflow targets. Each tenant gets a bucket of `burst` tokens that refills at
`rate` tokens a second; a request takes one token or is refused with 429 and `Retry-After`.

Guarantees, stated honestly:
- The buckets live in the API process: with N API processes a tenant can get up to N times the
  rate (and N bursts). That bounds a runaway client's requests, cheaply (no database round
  trip). The work those requests create is bounded by the per-tenant quotas, which PostgreSQL
  counts for every process at once (app/services/quotas.py: runs per minute, whatever a
  request's size, and runs in flight).
- Time is the injected monotonic clock (seconds); `TokenBucket` does no I/O and never awaits, so
  on the API's single event loop each `take` is atomic without a lock.
- Memory is bounded: at most `max_keys` buckets; when full, the buckets that have refilled
  completely are dropped first (forgetting a full bucket changes nothing), then the oldest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from litestar.exceptions import TooManyRequestsException

_ROUNDING = 1e-9
"""Float time arithmetic may leave a bucket a hair short of the token it has earned."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up, one bucket per key."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be > 0, burst and max_keys at least 1")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take a token from `key`'s bucket: 0.0 when granted, else the seconds until the next
        token (nothing is taken then)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            elapsed = max(0.0, now - bucket.updated)  # a clock that steps back refills nothing
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0 - _ROUNDING:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._max_keys:
            return
        refilled = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in refilled:
            del self._buckets[key]
        while len(self._buckets) >= self._max_keys:
            # Still full of tenants that are using their buckets: drop the oldest (a dict keeps
            # insertion order); it starts again with a full bucket, a bounded leniency.
            del self._buckets[next(iter(self._buckets))]


def enforce(limiter: TokenBucket, tenant: str, what: str = "manual runs") -> None:
    """Take a token for `tenant` or raise 429 with `Retry-After` (whole seconds, at least 1)."""
    wait = limiter.take(tenant)
    if wait <= 0:
        return
    retry_after = max(1, math.ceil(wait))
    raise TooManyRequestsException(
        detail=(
            f"too many {what}: at most {limiter.rate:g} a second (bursts of {limiter.burst}) "
            f"per tenant and API process (SCHEDULER_TRIGGER_RATE, SCHEDULER_TRIGGER_BURST); "
            f"retry in {retry_after} s"
        ),
        headers={"Retry-After": str(retry_after)},
    )
