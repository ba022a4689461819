"""Attempts: a batch of executions through one try each. Start (one transaction), the HTTP
calls (no transaction open: SPEC §5), finish (one transaction that records every outcome,
defers the retries, updates the schedules and releases buffered runs); and what gives an
execution its next attempt (its job: retries, recovery of orphans, buffered runs released).

An "execution" (a run) is the row of one slot; an "attempt" is one try of it
(app/services/executions.py has the executions people ask for, and their history)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

import psycopg

from app.domain.callbacks import Report
from app.domain.execution import FAILURES, FINISHED
from app.domain.firing import SlotRow
from app.domain.incidents import DEFAULT_ALERTS, AlertPolicy, IncidentEvent
from app.domain.outcome import Kind, Outcome
from app.domain.retry import decide
from app.domain.schedule import Schedule
from app.services.incidents import record_events
from db import jobs
from db.repositories import executions as repo
from db.repositories import health as health_repo
from db.repositories import outcomes as outcomes_repo
from db.repositories import quotas as quotas_repo
from db.repositories import schedules as schedules_repo
from db.repositories.executions import Attempt as Attempt
from db.repositories.executions import AttemptOutcome, EndedRun, dispatched_attempt
from db.repositories.outcomes import Conclusion
from db.repositories.schedules import StreakUpdate
from db.types import Conn

log = logging.getLogger("app.services.attempts")

HELD_RUN_DELAY = timedelta(seconds=1)
"""A run held back by its tenant's cap of runs in flight is tried again this much later..."""
HELD_RUN_DELAY_AT_CAP = timedelta(seconds=5)
"""...or this much later when its tenant had no room at all: a tenant with a long backlog
behind a full cap costs the database one start a run every 5 s, not every second."""
CLAIMS_AT_ONCE = 4
"""Batch starts (`start_batch`) one worker process runs at once; its executor holds the others
back (worker/executor.py)."""


def racing_starts(processes: int) -> int:
    """How many starts of runs without the per-tenant lock may run at the very same moment,
    fleet-wide, none seeing the others' runs yet: each worker process's `CLAIMS_AT_ONCE` batch
    starts and its dispatcher's pass (which inserts runs started), for the `processes` alive
    (the caller's own at least). A tenant below its cap by that many times a start's runs of
    it starts them without the lock.

    Counted from the processes alive, not assumed: a constant 64 batches made the headroom
    grow with the size of a job (6,400 runs with jobs of 100, 16,000 with jobs of 250), so a
    two-process deployment took the lock, and wrote each run twice, from 4,000 runs in flight
    of its default cap of 20,000 (docs/benchmarks.md, twenty-first stop). No process is left
    out: only a process with a seat starts runs without the lock, and every lock-free start
    counts the processes that hold one (docs/architecture.md, "The fleet seat"). A seated
    caller counts itself; the floor of one is for a count taken without (tests)."""
    return max(processes, 1) * (CLAIMS_AT_ONCE + 1)


Dispatched = tuple[Schedule, SlotRow]
"""What a dispatcher held of a run it inserted started: its schedule as claimed, and its slot."""


class StartedAhead:
    """The runs this process's dispatcher inserted already `running` for this process to run
    (app/services/dispatch.py), with their slots and, for the default target, the schedule and
    slot row they were made from: their attempt is started, so `start_batch` builds it from
    those (or reads it: a schedule's own target needs its tenant's signing keys) instead of
    starting them again. Process-wide on purpose: another process (after this one died) does
    not know them and starts them again, counting a new attempt, exactly as for a run whose
    worker died after its start. Entries are taken once; entries never taken (a batch that
    failed before its start) are forgotten after `ttl` seconds, so that a run recovered into
    this process later is started again, not read."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._added: dict[UUID, tuple[datetime, Dispatched | None, float]] = {}

    def add(self, runs: dict[UUID, tuple[datetime, Dispatched | None]]) -> None:
        """`runs`: each run's id, its slot (`scheduled_at`, the history's partition key) and
        what it was made from (None: its attempt is read at the start)."""
        now = time.monotonic()
        if self._added and next(iter(self._added.values()))[2] < now - self.ttl:
            self._added = {i: v for i, v in self._added.items() if v[2] >= now - self.ttl}
        self._added.update((i, (at, made, now)) for i, (at, made) in runs.items())

    def take(self, execution_ids: Iterable[UUID]) -> dict[UUID, tuple[datetime, Dispatched | None]]:
        oldest = time.monotonic() - self.ttl
        taken = ((i, self._added.pop(i, None)) for i in execution_ids)
        return {i: (v[0], v[1]) for i, v in taken if v is not None and v[2] >= oldest}


STARTED_AHEAD = StartedAhead()


async def start_batch(
    conn: Conn,
    execution_ids: Sequence[UUID],
    *,
    max_in_flight: int | None = None,
    seat: UUID | None = None,
    now: datetime | None = None,
) -> list[Attempt]:
    """Claim the batch's runs for an attempt; runs of deleted schedules end `cancelled`.

    With `max_in_flight` (SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT), a tenant never has more runs
    `running` than that: its runs beyond the cap stay pending, untouched (no attempt counted,
    no overlap decision), and get a new job, in this transaction, `HELD_RUN_DELAY` later
    (`HELD_RUN_DELAY_AT_CAP` when their tenant had no room at all). `now` (tests) replaces
    the database clock for the start and cancel instants. Runs start under their tenant's
    lock, or without it where the tenant is far below its cap (`start_without_lock`) when
    `seat`, the caller's worker process, holds its seat in the fleet.

    Runs in `STARTED_AHEAD` were inserted started by this process's dispatcher, within the
    cap: their attempts are built from what the dispatcher held (or read), not written again,
    and only while they are still in that first attempt.
    """
    ahead = STARTED_AHEAD.take(execution_ids)
    rest = [i for i in execution_ids if i not in ahead]
    for held in seats(seat):
        try:
            async with conn.transaction():
                # Every statement below names runs by their full key, so only their
                # partitions are read (migration 0010); the dispatcher told us the slots of
                # the runs it started.
                slots = {i: at for i, (at, _) in ahead.items()} | await repo.keys(conn, rest, now)
                first, db_now = await repo.cancel_orphans(conn, slots, now)
                attempts = []
                for i, (_, made) in ahead.items():
                    if made is not None and i in first and db_now is not None:
                        schedule, slot = made
                        attempts.append(dispatched_attempt(schedule, i, slot, db_now))
                unbuilt = {i: at for i, (at, made) in ahead.items() if made is None}
                attempts += await repo.read_started(conn, unbuilt, now)
                near = await _near_cap(conn, rest, max_in_flight, held, now)
                to_start = {i: slots[i] for i in rest if i in slots and i not in near}
                attempts += await repo.start_attempts(conn, to_start, now)
                if held is not None and max_in_flight is not None and to_start:
                    await keep_seat(conn, held, now)
            break
        except SeatLost:
            continue  # rolled back: the batch again, every capped run under its tenant's lock
    if near and max_in_flight is not None:
        # After the commit above: the other tenants' runs of the batch are started and go out
        # now, whatever this tenant's lock waits for (a tenant at its cap slows nobody else).
        attempts += await _start_near_cap(conn, near, slots, max_in_flight, now)
    return attempts


class SeatLost(Exception):
    """The caller's process lost its seat in the fleet while it started runs without the
    per-tenant lock: the transaction is rolled back, and the runs start again under it."""


def seats(seat: UUID | None) -> tuple[UUID | None, ...]:
    """The seats a start tries in turn: its process's, then none (after `SeatLost`)."""
    return (seat, None) if seat is not None else (None,)


async def keep_seat(conn: Conn, seat: UUID, now: datetime | None = None) -> None:
    """Last in a transaction that started runs without the per-tenant lock, before it
    commits: the process still holds its seat, so every other process's count of the
    processes finds it alive until this commits, however long ago its own count was (a
    stalled event loop, a frozen process). Raises `SeatLost` otherwise."""
    if not await health_repo.seat_held(conn, seat, now):
        log.warning(
            "a start without the per-tenant lock outlived its seat; it starts again under it",
            extra={"event": "attempts.seat_lost"},
        )
        raise SeatLost


async def _near_cap(
    conn: Conn,
    execution_ids: Sequence[UUID],
    cap: int | None,
    seat: UUID | None,
    now: datetime | None,
) -> set[UUID]:
    """The batch's runs whose tenant cannot start them without its per-tenant lock (see
    `start_without_lock`; all of them for a caller with no `seat`): they are started after
    this transaction, under the lock."""
    if cap is None or not execution_ids:
        return set()
    if seat is None:
        return set(execution_ids)
    waiting = await quotas_repo.waiting_by_tenant(conn, execution_ids)
    runs = {t: len(ids) for t, ids in waiting.items()}
    free = await start_without_lock(conn, runs, cap, seat, now)
    return {run for tenant, ids in waiting.items() if tenant not in free for run in ids}


async def start_without_lock(
    conn: Conn,
    start_runs: Mapping[str, int],
    cap: int,
    seat: UUID,
    now: datetime | None = None,
) -> set[str]:
    """Of the tenants with `start_runs` runs each in a start (every run of theirs it starts),
    those that start them in the caller's transaction without their per-tenant lock: far
    below `cap` (even `racing_starts` starts like this one at once, none seeing the others'
    runs yet, would stay within it; the lock would start one tenant's burst one batch at a
    time). None unless the caller's process, `seat`, holds its seat in the fleet: every other
    process's lock-free start then counts it (docs/architecture.md, "The fleet seat").

    Such a start holds the tenant's lock shared until commit, taken before its runs in flight
    are counted (in a later statement, so a later snapshot). A locked start, which takes the
    lock exclusively, so waits for the lock-free starts in flight and counts their runs, and a
    lock-free start counts the runs of every locked start that committed before it: the cap is
    exact whatever the sizes of the batches racing. Counted without the lock, a lock-free start
    of a few runs and a locked start filling the cap with a large batch passed it together
    (docs/benchmarks.md, twenty-first stop). Never waits: a tenant whose lock a locked start
    holds is near."""
    shared = await quotas_repo.share_in_flight(conn, sorted(start_runs))
    if not shared:
        return set()
    # A later statement, so a snapshot later than the locks: a process that took its seat
    # (or a stop that gave one up) before them is seen, one after them waited for this start.
    counted = await repo.running_by_tenant(conn, shared, cap, seat, now)
    if not counted.seated:
        return set()
    racing = racing_starts(counted.processes)
    return {t for t in shared if counted.running.get(t, 0) + start_runs[t] * racing <= cap}


async def _start_near_cap(
    conn: Conn,
    near: set[UUID],
    slots: dict[UUID, datetime],
    cap: int,
    now: datetime | None,
) -> list[Attempt]:
    """Start the runs of tenants near their cap, in a transaction of their own: each such
    tenant's starts take a per-tenant lock until commit and count again, so no two starts see
    room for the same runs; the runs over the cap are re-deferred. A failure here leaves those
    runs pending: logged, and their job's end hands them to recovery (nothing lost)."""
    try:
        async with conn.transaction():
            held = await _hold_over_cap(conn, list(near), cap, now)
            to_start = {i: slots[i] for i in near if i in slots and i not in held}
            return await repo.start_attempts(conn, to_start, now)
    except psycopg.Error as exc:
        log.warning(
            "runs of a tenant near its cap not started: %s",
            type(exc).__name__,
            extra={"event": "attempts.near_cap_error", "runs": len(near)},
        )
        return []


async def _hold_over_cap(
    conn: Conn, execution_ids: Sequence[UUID], cap: int, now: datetime | None
) -> set[UUID]:
    """The runs (all of tenants near `cap`) that must wait for their tenant's runs in flight to
    go below it, re-deferred from `now` (None: the database clock), under the per-tenant lock."""
    held, db_now = await quotas_repo.hold_over_in_flight(conn, execution_ids, cap, now)
    if db_now is not None:
        for full in (False, True):
            ids = [run for run, tenant_full in held if tenant_full is full]
            delay = HELD_RUN_DELAY_AT_CAP if full else HELD_RUN_DELAY
            if ids:
                await defer_runs(conn, ids, at=db_now + delay)
    return {run for run, _ in held}


def _streaks(finished: Sequence[EndedRun]) -> list[StreakUpdate]:
    """Per schedule, in the order its runs ended: last status, failures since the last
    success, and whether a success resets the stored streak."""
    summary: dict[UUID, StreakUpdate] = {}
    for run in finished:
        so_far = summary.get(run.trigger_id) or StreakUpdate(
            run.trigger_id, run.status, run.started_at, 0, False
        )
        succeeded = run.status == "succeeded"
        summary[run.trigger_id] = StreakUpdate(
            run.trigger_id,
            run.status,
            _latest(so_far.last_run_at, run.started_at),
            0 if succeeded else so_far.trailing_failures + 1,
            so_far.reset or succeeded,
        )
    return list(summary.values())


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


class Answer(NamedTuple):
    """One attempt's outcome and when its answer arrived (the database clock as the worker
    reads it): `finishedAt` is that moment, not when the coalesced write happens. A
    NamedTuple, like the other values made once per run (db/repositories/executions.py)."""

    attempt: Attempt
    outcome: Outcome
    answered_at: datetime | None = None


async def finish_batch(
    conn: Conn,
    results: Sequence[Answer],
    rng: random.Random | None = None,
    alerts: AlertPolicy = DEFAULT_ALERTS,
    now: datetime | None = None,
) -> list[UUID]:
    """Record every outcome in one transaction; returns the schedules auto-paused.

    A run answered 202 becomes `accepted`; a report its workflow sent before this (a workflow
    faster than the recording) is applied here, in the same transaction. `now` (tests)
    replaces the database clock where an answer has no instant of its own."""
    rng = rng or random.Random()  # noqa: S311 - backoff jitter, not security
    outcomes = []
    for answer in results:
        attempt, outcome = answer.attempt, answer.outcome
        decision = decide(
            outcome,
            attempt=attempt.attempt,
            max_attempts=attempt.max_attempts,
            backoff_seconds=attempt.retry_backoff_seconds,
            random_unit=rng.random(),
        )
        outcomes.append(
            AttemptOutcome(
                id=attempt.execution_id,
                scheduled_at=attempt.scheduled_at,  # the partition key: one partition read
                status=decision.status,
                http_status=outcome.http_status,
                error=outcome.error,
                workflow_run_id=outcome.workflow_run_id,
                duration_ms=outcome.duration_ms,
                retry_delay_seconds=decision.retry_delay_seconds,
                attempt=attempt.attempt,
                answered_at=answer.answered_at,
                completion_timeout=attempt.completion_timeout_seconds,
            )
        )
    attempts = {answer.attempt.execution_id: answer.attempt for answer in results}
    # The ended runs in the order of the answers, not the update's plan: a schedule's streak
    # and its incidents follow the order its runs ended (a failure, then a success, leaves
    # run.failed resolved).
    answered = {outcome.id: n for n, outcome in enumerate(outcomes)}
    async with conn.transaction():
        updated = sorted(
            await repo.finish_many(conn, outcomes, now), key=lambda row: answered[row.id]
        )
        accepted = [(r.id, r.attempts) for r in updated if r.status == "accepted"]
        for early in await outcomes_repo.waiting_reports(conn, accepted):
            attempt = attempts[early.execution_id]
            end = conclusion_of(
                early.report,
                attempt=attempt.attempt,
                max_attempts=attempt.max_attempts,
                backoff_seconds=attempt.retry_backoff_seconds,
                random_unit=rng.random(),
                at=early.reported_at,
            )
            row = await outcomes_repo.conclude(conn, early.execution_id, attempt.scheduled_at, end)
            await outcomes_repo.mark_applied(conn, early.execution_id, early.attempt, end.at)
            if row is not None:
                updated.append(row)
        return await after_runs_end(conn, updated, alerts, now)


def conclusion_of(
    report: Report,
    *,
    attempt: int,
    max_attempts: int,
    backoff_seconds: float,
    random_unit: float,
    at: datetime,
) -> Conclusion:
    """What a workflow's report makes of its accepted run: succeeded; failed; or, for a
    `retryable` failure with attempts left, retrying after the schedule's backoff, exactly
    like a 5xx answer (the next attempt is a new delivery with the same Idempotency-Key)."""
    succeeded = report.status == "succeeded"
    kind: Kind = "succeeded" if succeeded else "retry" if report.retryable else "failed"
    error = None if succeeded else report.error or "the workflow reported failure"
    decision = decide(
        Outcome(kind, None, error, None, None, 0),
        attempt=attempt,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
        random_unit=random_unit,
    )
    return Conclusion(decision.status, error, report.output, at, decision.retry_delay_seconds)


async def after_runs_end(
    conn: Conn,
    updated: Sequence[EndedRun],
    alerts: AlertPolicy = DEFAULT_ALERTS,
    now: datetime | None = None,
) -> list[UUID]:
    """What follows runs changing state, in the caller's transaction: retries get their jobs,
    ended runs update their schedules' last status and failure streak (a timed_out run is a
    failure), and buffered runs of buffer_one schedules with nothing unfinished start.
    Incidents follow (run.failed, schedule.paused: app/services/incidents.py), with their
    outbox rows. Returns the schedules auto-paused by pauseAfterFailures (at `now`, else the
    database clock).

    Only schedules whose policy is buffer_one as recorded here are looked at for a buffered
    run: one whose policy changed away from buffer_one with a run still buffered has it
    released by the recovery sweep (`recover_orphans`)."""
    await _defer_retries(conn, [r for r in updated if r.status == "retrying"])
    finished = [r for r in updated if r.status in FINISHED]
    # locks the schedules
    recorded = await schedules_repo.record_outcomes(conn, _streaks(finished), now)
    await record_events(
        conn, _incident_events(finished, recorded.paused, recorded.resolvable), alerts
    )
    if recorded.buffering:
        await release_buffered(conn, sorted(recorded.buffering))
    return recorded.paused


def _incident_events(
    finished: Sequence[EndedRun], paused: Sequence[UUID], resolvable: Collection[UUID]
) -> list[IncidentEvent]:
    """run.failed opens on a failed or timed_out run and resolves on a success (in the order
    the runs ended); schedule.paused opens for the schedules pauseAfterFailures paused;
    slot.missed resolves when a run its schedule fired on time (not a catch-up, a manual run
    or a backfill) ends: the schedule fires on time again.

    A resolution is made only where there may be something to resolve: a schedule in
    `resolvable` (an incident of either kind open, read under the schedule's lock), or one
    with a failure among these runs (which may open run.failed before a later success
    resolves it). In a steady run that is no schedule: a batch of successes makes no event,
    and so no fold and no query of open incidents (~12 µs a run of the worker, timeit)."""
    failing = {r.trigger_id for r in finished if r.status in FAILURES}
    may_resolve = failing.union(resolvable)
    on_time = sorted(
        {r.trigger_id for r in finished if r.trigger == "schedule" and r.trigger_id in may_resolve}
    )
    events = [
        IncidentEvent(r.trigger_id, "run.failed", "open", r.id)
        if r.status in FAILURES
        else IncidentEvent(r.trigger_id, "run.failed", "resolve")
        for r in finished
        if r.status in FAILURES or (r.status == "succeeded" and r.trigger_id in may_resolve)
    ]
    last_failure = {e.trigger_id: e.execution_id for e in events if e.action == "open"}
    return (
        events
        + [
            IncidentEvent(trigger, "schedule.paused", "open", last_failure.get(trigger))
            for trigger in paused
        ]
        + [IncidentEvent(trigger, "slot.missed", "resolve") for trigger in on_time]
    )


async def defer_runs(
    conn: Conn, execution_ids: Sequence[UUID], *, at: datetime | None = None
) -> list[tuple[int, list[UUID]]]:
    """Give runs their batch jobs, in the caller's transaction; returns (job, its runs)."""
    batches = (await jobs.defer_run_batches(conn, execution_ids, at=at)).batches
    await repo.set_jobs(conn, [(run, job) for job, runs in batches for run in runs])
    return batches


async def _defer_retries(conn: Conn, retrying: Sequence[EndedRun]) -> None:
    """One job per distinct retry second: retries of a burst share jobs, not one each."""
    by_second: dict[datetime, list[UUID]] = {}
    for run in retrying:
        assert run.next_attempt_at is not None  # a retrying run always has one
        by_second.setdefault(_ceil_second(run.next_attempt_at), []).append(run.id)
    for due, ids in sorted(by_second.items()):
        await defer_runs(conn, ids, at=due)


async def release_buffered(conn: Conn, trigger_ids: Sequence[UUID]) -> int:
    """buffer_one: start the waiting run of each schedule that has nothing else unfinished."""
    released = await repo.release_buffered(conn, trigger_ids)
    await defer_runs(conn, released)
    return len(released)


ORPHAN_PAGE = 5_000  # in-flight runs an orphan search aims to read a pass
RELEASE_LIMIT = 1_000  # schedules whose forgotten buffered run a pass releases, at most
ORPHAN_SPANS = (0.001, 86_400.0)  # a window's bounds, in seconds


@dataclass(slots=True)
class OrphanCursor:
    """Where a worker's orphan search goes on at its next pass (after the in-flight runs made
    up to `after`; from the oldest once a window reaches the minimum age), and how long a
    window it reads: scaled by the page over what the last window read (at most doubled, at
    least divided by 64), and not shorter than twice the time since the pass before (that
    floor grows at most twofold a pass), so that the cursor gains on the clock and every
    cycle ends, however many runs are made each second (a window then reads what was made in
    it: the cost follows the rate, not the backlog)."""

    after: datetime = repo.ORPHAN_SEARCH_START
    span_seconds: float = 60.0  # a first window: a minute of runs (then sized by what it read)
    head: datetime | None = None  # the last pass's minimum-age bound

    def moved(self, page: repo.OrphanPage, limit: int) -> None:
        self.after = page.last if page.last is not None else repo.ORPHAN_SEARCH_START
        span = self.span_seconds * min(2.0, max(1 / 64, limit / max(page.read, 1)))
        if page.last is None:  # cut at the minimum age: it says nothing of a longer window
            span = min(span, self.span_seconds)
        if self.head is not None:
            # An outage's gap is not a rate of runs: the floor grows at most twofold a pass.
            since = (page.head - self.head).total_seconds()
            span = max(span, min(2 * since, 2 * self.span_seconds))
        self.head = page.head
        self.span_seconds = min(ORPHAN_SPANS[1], max(ORPHAN_SPANS[0], span))

    def failed(self, *, timed_out: bool) -> None:
        """A pass failed: the time it took says nothing of the clock's pace; a window that
        timed out (the statement timeout) is halved."""
        self.head = None
        if timed_out:
            self.span_seconds = max(ORPHAN_SPANS[0], self.span_seconds / 2)


async def recover_orphans(
    conn: Conn,
    *,
    min_age_seconds: float = 30,
    limit: int = ORPHAN_PAGE,
    now: datetime | None = None,
    cursor: OrphanCursor | None = None,
) -> int:
    """Re-defer unfinished runs whose job is gone or ended; release forgotten buffered runs.

    The last line of "nothing is lost" (SPEC §5): whatever killed a run's job (a cancelled
    task, a crash between steps, a job removed by hand), the run gets a new job here. A run
    counts as an orphan once `min_age_seconds` old at `now` (else the database clock); at
    most `limit` a pass. Without a `cursor`, one pass reads every in-flight run. With one
    (each worker's recovery keeps its own), a pass reads a window of about `limit` runs from
    it and moves it: however many runs stay in flight for long (one tenant's retries hours
    apart), a pass costs a window, and the passes after it read on (docs/reliability.md).
    """
    # Without a cursor: one window from the oldest, longer than any history.
    after = repo.ORPHAN_SEARCH_START if cursor is None else cursor.after
    span = 1e9 if cursor is None else cursor.span_seconds
    try:
        async with conn.transaction():
            page = await repo.find_orphans(
                conn,
                min_age_seconds=min_age_seconds,
                after=after,
                span_seconds=span,
                limit=limit,
                now=now,
            )
            for due, ids in _group_by_due(page.orphans).items():
                await defer_runs(conn, ids, at=due)
            found = await repo.find_unreleased_buffered(conn, RELEASE_LIMIT)
            released = await release_buffered(conn, found)
    except Exception as exc:
        if cursor is not None:
            cursor.failed(timed_out=isinstance(exc, psycopg.errors.QueryCanceled))
        raise
    if cursor is not None:
        cursor.moved(page, limit)
    return len(page.orphans) + released


def _group_by_due(
    orphans: Sequence[tuple[UUID, datetime | None]],
) -> dict[datetime | None, list[UUID]]:
    grouped: dict[datetime | None, list[UUID]] = {}
    for execution_id, due in orphans:
        grouped.setdefault(_ceil_second(due) if due else None, []).append(execution_id)
    return grouped


def _ceil_second(instant: datetime) -> datetime:
    """Rounded up, so a job never starts before its runs' next attempt is due."""
    whole = instant.replace(microsecond=0)
    return whole if whole == instant else whole + timedelta(seconds=1)
