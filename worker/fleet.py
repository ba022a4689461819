"""This process's seat in the count of worker processes that start runs without the lock.

A start of runs without its tenant's in-flight lock (app/services/attempts.py
`start_without_lock`) stays within the tenant's cap only if every process that may be doing
the same at that moment is counted in its racing bound (`racing_starts`), and the others are
counted from their health reports (worker_loop_health). Counted from the reports alone, a
process not yet reported (several started at the same moment) or whose reports had gone stale
while its executor went on was not counted, and its starts could pass a tenant's cap by a
batch each. So a process starts runs without the lock only while it holds a seat:

- it takes the seat with a report that holds the fleet lock exclusively
  (db/queries/health.sql `fleet_lock`): that report waits for the lock-free starts in flight,
  each of which holds the fleet lock shared (with a try, db/queries/quotas.sql
  `quota_in_flight_share`), and every lock-free start after its commit counts this process;
- it keeps the seat while each report succeeds within half its report loop's stale time of
  the one before, so that the others still find its last committed report fresh: they count a
  process while its report is younger than that stale time;
- it gives the seat up before its rows are deleted at a stop (the delete takes the lock too).

What this rests on: a lock-free start's transaction lasts less than half a report's stale time
(30 s at least): it is one batch's start or one dispatcher pass. See docs/semantics.md.
"""

from __future__ import annotations

import time


class FleetSeat:
    """Whether this process may start runs without the per-tenant lock, now. Filled by the
    health reporter (worker/health.py), read by the dispatcher and the executor."""

    def __init__(self) -> None:
        self._until: float | None = None  # the seat holds until then (time.monotonic())

    def held(self, at: float | None = None) -> bool:
        return self._until is not None and (time.monotonic() if at is None else at) < self._until

    def taken_at(self, reported_at: float, stale_after: float) -> None:
        """A report, begun at `reported_at` (time.monotonic(), before its statement), has
        committed: the seat holds for half the report's stale time from its beginning."""
        self._until = reported_at + stale_after / 2

    def leave(self) -> None:
        self._until = None
