"""Health of the workers' supervised loops (issue 10, H2): what a worker reports, what
`scheduler check` and /metrics read back, and the rule that calls a loop stale. Pure.

A loop is stale when it has had no successful pass for `stale_after` seconds: max(30 s, 3 × its
period) in production (worker/service.py). Every worker process reports its loops every
heartbeat interval through one more loop, `health.report`; when that one is stale the process
itself is silent: dead (killed without stopping) or hung.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID

REPORT_LOOP = "health.report"


class Seat(Enum):
    """What a report did with its process's seat in the fleet, the right to start runs without
    the per-tenant lock (docs/architecture.md, "The fleet seat")."""

    KEPT = "kept"  # held, and held on: the report was on time
    TAKEN = "taken"  # it had lapsed (or never was): taken under the fleet lock
    REFUSED = "refused"  # lapsed, and the fleet lock not had in time: the runs take the lock
    # Held at the report's check, lapsed by its write (the report stalled for half the stale
    # time in between): not renewed; the next report takes it under the lock.
    LAPSED = "lapsed"


@dataclass(frozen=True, slots=True)
class WorkerProcess:
    process_id: UUID  # chosen by the process when it starts
    host: str
    pid: int

    def __str__(self) -> str:
        return f"worker {self.host} pid {self.pid}"


@dataclass(frozen=True, slots=True)
class LoopReport:
    """One loop as its process reports it; ages are seconds before the report."""

    loop: str
    stale_after: float
    started_age: float
    success_age: float | None  # None: no successful pass yet
    failures: int  # consecutive failed passes
    last_error: str | None  # the exception's type name only


@dataclass(frozen=True, slots=True)
class LoopState:
    """One loop as stored, seen at some instant."""

    process: WorkerProcess
    loop: str
    stale_after: float
    silent_seconds: float  # since its last successful pass (since start, before the first)
    last_success_at: datetime | None
    failures: int
    last_error: str | None
    reported_at: datetime

    @property
    def stale(self) -> bool:
        return self.silent_seconds > self.stale_after


def problems(
    states: Sequence[LoopState], *, gone: Callable[[WorkerProcess], bool] = lambda _: False
) -> list[str]:
    """One line per stale loop, or per silent process (then its other loops are not listed).
    `gone(process)` says a silent process is known to have exited: not a problem."""
    silent = {s.process for s in states if s.loop == REPORT_LOOP and s.stale}
    found: list[str] = []
    for process in sorted(silent, key=str):
        if not gone(process):
            since = next(
                s.silent_seconds for s in states if s.process == process and s.loop == REPORT_LOOP
            )
            found.append(f"{process}: no report for {since:.0f} s (ended without notice, or hung)")
    for state in states:
        if state.stale and state.process not in silent:
            error = f", last error {state.last_error}" if state.last_error else ""
            found.append(
                f"{state.process}: loop {state.loop} has had no successful pass for "
                f"{state.silent_seconds:.0f} s (stale after {state.stale_after:.0f} s; "
                f"{state.failures} failed passes in a row{error})"
            )
    return found
