"""Values that anonymous endpoints serve from memory, recomputed at most once per interval.

`/metrics` and `/ready` need no token, so whatever they cost, anyone can make the API pay it as
often as they like. A `Snapshot` bounds that: within `ttl` seconds of a computation every caller
gets its result, and when it is stale one caller recomputes it while the others wait for that
result instead of starting their own, so the endpoint costs the database at most one
computation (one pooled connection) per `ttl`, whatever the request rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Snapshot(Generic[T]):
    """The latest value of a computation, reused for `ttl` seconds; one computation in flight.

    A computation that raises is not kept: the exception goes to the caller that ran it, and
    the next caller (one at a time) tries again. `monotonic` is injectable for tests.
    """

    def __init__(self, ttl: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._value: T | None = None
        self._taken_at: float | None = None

    def _fresh(self) -> bool:
        return self._taken_at is not None and self._monotonic() - self._taken_at < self.ttl

    async def get(self, compute: Callable[[], Awaitable[T]]) -> T:
        if self._fresh():
            return self._value  # type: ignore[return-value]
        async with self._lock:
            if self._fresh():  # computed by the caller that held the lock before us
                return self._value  # type: ignore[return-value]
            value = await compute()
            self._value, self._taken_at = value, self._monotonic()
            return value
