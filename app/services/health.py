"""Readiness (the database answers, its schema is at head) and the workers' loop health."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.domain.loop_health import LoopReport, LoopState, Seat, WorkerProcess, problems
from db.repositories import health as repo
from db.types import Conn

# A process silent this long is taken for dead and its rows are deleted (a stopping worker
# deletes its own at once). Until then `scheduler check` names it.
FORGET_AFTER_SECONDS = 600.0

# How long a report or a stop waits for the fleet lock: the lock-free starts in flight that it
# waits for last one batch's start or one dispatcher pass, far less; longer means one is held
# open (a frozen process), and the report goes without its seat rather than not at all.
FLEET_LOCK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    database: str
    migrations: str


@functools.cache
def code_head_revision() -> str:
    """The head revision of the migrations this code ships. Read once per process: it cannot
    change under a running process, and reading it parses every migration script (Alembic's
    ScriptDirectory), synchronously, which `/ready` must not do per request. Imported here:
    Alembic and SQLAlchemy cost a process ~0.3 s of CPU to import, and a worker, which reports
    its loops through this module, never asks for the head."""
    from db.migrate import head_revision

    return head_revision()


async def readiness(conn: Conn) -> Readiness:
    version = await repo.migration_version(conn)
    head = code_head_revision()
    if version != head:
        return Readiness(False, "ok", f"at {version or 'none'}, head is {head}: run migrations")
    return Readiness(True, "ok", "at head")


async def report_loops(
    conn: Conn,
    process: WorkerProcess,
    loops: Sequence[LoopReport],
    now: datetime | None = None,
    *,
    lock_timeout: float = FLEET_LOCK_TIMEOUT_SECONDS,
) -> Seat:
    """A worker's periodic report of its loops (worker/health.py), and what it did with the
    process's seat among those that start runs without the per-tenant lock
    (docs/architecture.md, "The fleet seat")."""
    return await repo.report_loops(
        conn, process, loops, forget_after=FORGET_AFTER_SECONDS, lock_timeout=lock_timeout, now=now
    )


async def forget_process(
    conn: Conn, process: WorkerProcess, *, lock_timeout: float = FLEET_LOCK_TIMEOUT_SECONDS
) -> None:
    """A stopping worker's rows go with it."""
    await repo.remove_process(conn, process, lock_timeout=lock_timeout)


@dataclass(frozen=True, slots=True)
class LoopHealth:
    states: list[LoopState]
    problems: list[str]

    @property
    def processes(self) -> int:
        return len({s.process for s in self.states})


async def loop_health(
    conn: Conn,
    *,
    host: str | None = None,
    gone: Callable[[WorkerProcess], bool] = lambda _: False,
    now: datetime | None = None,
) -> LoopHealth:
    """Every reported loop (of `host`, or of all hosts) and what is wrong with them. With a
    host, no process of that host reporting at all is a problem too (a worker's healthcheck
    asks about its own host)."""
    states = await repo.list_loops(conn, host, now)
    found = problems(states, gone=gone)
    if host is not None and not any(not gone(s.process) for s in states):
        found.append(f"no worker process on host {host} has reported its loops")
    return LoopHealth(states, found)
