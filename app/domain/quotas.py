"""Per-tenant quotas as pure arithmetic (issue 10, H3): no I/O, time is an argument.

Runs created per minute are counted in one bucket per tenant and UTC minute. A fixed window
would let a tenant create twice its quota in the two seconds around a minute boundary, so the
quota is checked against a sliding 60-second window estimated from two buckets: the previous
minute's runs count for the part of that minute still inside the window (the estimate assumes
they were spread evenly). Over time a tenant gets its quota per minute; a client that takes
every run it is granted gets at most 1.5x the quota in its worst 60 s (tests/unit/test_quotas.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TenantQuotas:
    """The limits every tenant gets; `None` switches one off (tools and benchmarks only)."""

    max_schedules: int | None = None
    max_runs_per_minute: int | None = None
    max_runs_in_flight: int | None = None


@dataclass(frozen=True, slots=True)
class RunUsage:
    """Runs one tenant created in the previous UTC minute and in the current one so far, and how
    far into the current minute `now` is."""

    previous: int
    current: int
    elapsed: float  # seconds, 0 <= elapsed < 60

    def used(self) -> float:
        """Runs counted in the sliding window that ends now."""
        return self.previous * (WINDOW_SECONDS - self.elapsed) / WINDOW_SECONDS + self.current


def minute_of(now: datetime) -> datetime:
    """The bucket `now` falls in: the start of its UTC minute."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def elapsed_in_minute(now: datetime) -> float:
    return (now.astimezone(UTC) - minute_of(now)).total_seconds()


def runs_left(usage: RunUsage, limit: int) -> int:
    """How many more runs fit in the window now (0 when the quota is used up)."""
    return max(0, math.floor(limit - usage.used() + 1e-9))


def seconds_until_room(usage: RunUsage, limit: int, wanted: int) -> int:
    """Whole seconds (at least 1) until `wanted` runs fit, if nothing else is created
    meanwhile. `wanted` must be at most `limit` (more never fits)."""
    assert 0 < wanted <= limit
    spare = limit - wanted - usage.current
    if spare >= 0 and usage.previous > 0:
        # Still in this minute: the previous minute's weight falls by previous/60 a second.
        at = WINDOW_SECONDS * (1 - spare / usage.previous)
        if at < WINDOW_SECONDS:
            return max(1, math.ceil(at - usage.elapsed))
    # In the next minute, this minute's runs are the ones that fade.
    to_next = WINDOW_SECONDS - usage.elapsed
    if usage.current == 0:
        return max(1, math.ceil(to_next))
    at = max(0.0, WINDOW_SECONDS * (1 - (limit - wanted) / usage.current))
    return max(1, math.ceil(to_next + at))
