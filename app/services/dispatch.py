"""One dispatcher pass: claim due schedules, record their slots, defer their runs, advance them.

All in ONE transaction (SPEC §4.1): the execution rows, their Procrastinate jobs and the
schedules' next slots commit together or not at all. A crash mid-pass leaves the schedules due,
and the next pass (here or in another worker) does the same work; the unique slot key makes a
slot that did commit impossible to fire twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from app.domain.execution import FIRED
from app.domain.firing import PassResult, SlotRow, plan_pass, unusable_note
from app.domain.incidents import DEFAULT_ALERTS, AlertPolicy, IncidentEvent
from app.domain.run_ids import run_id
from app.domain.schedule import Schedule
from app.errors import SchedulerError
from app.services.attempts import (
    STARTED_AHEAD,
    Dispatched,
    SeatLost,
    keep_seat,
    seats,
    start_without_lock,
)
from app.services.incidents import record_events
from app.services.quotas import CatchupAllowance
from db import jobs
from db.repositories import executions as executions_repo
from db.repositories import schedules as schedules_repo
from db.repositories.executions import InsertedRun, NewRun
from db.repositories.schedules import Claimed, Crowd, ScheduleAdvance
from db.types import Conn

log = logging.getLogger("app.services.dispatch")

PASS_ROW_BUDGET = 10_000
"""The slots one pass records, roughly: it plans its claimed schedules in claim order until
their rows reach this, and leaves the rest for the next pass. A schedule back from an outage
records up to `MAX_MISSED_ROWS` missed slots and `MAX_ON_TIME_FIRES` fires in one pass; 250 such
schedules in one pass were 250,000 rows held in the worker at once (466 MB of RSS, measured:
docs/benchmarks.md). At least one schedule is planned per pass, whatever its rows."""


@dataclass(frozen=True, slots=True)
class PassStats:
    claimed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    jobs: int = 0
    left: int = 0  # claimed, but left for the next pass by the row budget (not advanced)
    local_jobs: list[tuple[int, list[UUID]]] = field(default_factory=list)
    paused: list[UUID] = field(default_factory=list)  # schedules that could not be planned

    @property
    def planned(self) -> int:
        """The claimed schedules this pass decided (the `left` ones come again next pass)."""
        return self.claimed - self.left

    @property
    def fired(self) -> int:
        return sum(self.statuses[status] for status in FIRED)


async def dispatch_once(
    conn: Conn,
    *,
    limit: int = 1_000,
    now: datetime | None = None,
    local_worker_id: int | None = None,
    local_capacity: int = 0,
    lookahead: float = 0.0,
    crowd: Crowd | None = None,
    max_runs_per_minute: int | None = None,
    alerts: AlertPolicy = DEFAULT_ALERTS,
    max_runs_in_flight: int | None = None,
    seat: UUID | None = None,
    row_budget: int = PASS_ROW_BUDGET,
) -> PassStats:
    """Dispatch up to `limit` due schedules. `now` overrides the database clock (tests).

    The claimed schedules are planned in claim order until their slots reach `row_budget`; the
    others stay as they are (claimed, not advanced: due for the next pass, `PassStats.left`).

    With `local_worker_id`, up to `local_capacity` of the batch jobs are claimed for the
    calling process to run right after the commit (`PassStats.local_jobs`).

    With `lookahead` > 0, schedules due within that many seconds are dispatched now, as of
    their fire instant: the executor holds their requests until the instant (on the database
    clock), so the pass's own work is not part of the fire lag. Schedules due in the `crowd`
    window [from, until) are dispatched too, however far ahead (`Lead`).

    Catch-up fires count against each tenant's `max_runs_per_minute`
    (SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE); beyond it they are recorded `missed`.

    The runs of the jobs claimed for the calling process are inserted already `running` (their
    first attempt started, as `start_batch` would write it), so their start is a read, not a
    second row version; `STARTED_AHEAD` tells this process's `start_batch` so. A tenant near
    its `max_runs_in_flight` (SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT) is not started here, nor
    is any with a cap unless `seat`, the calling worker process, holds its seat in the fleet
    (docs/architecture.md): its runs are inserted `pending` and wait for the cap in
    `start_batch`.

    Slots recorded `missed` open (or add to) their schedule's slot.missed incident, in this
    transaction (app/services/incidents.py); a run fired on time resolves it when it ends.
    """
    for held in seats(seat):
        try:
            async with conn.transaction():
                claimed = await schedules_repo.claim_due(conn, limit, now, lookahead, crowd)
                if not claimed:
                    return PassStats()
                pass_now = now or claimed[0].db_now
                catchup = CatchupAllowance(max_runs_per_minute)
                planned = await _plan(conn, claimed, now, pass_now, catchup, row_budget)
                # A slot that already has a row (a race lost to another dispatcher or a
                # backfill) is not inserted; its job then names an id that does not exist and
                # does nothing.
                batches, local = await jobs.defer_run_batches(
                    conn, planned.run_ids, worker_id=local_worker_id, run_here=local_capacity
                )
                started = await _started_here(conn, planned, local, max_runs_in_flight, held, now)
                inserted = await executions_repo.insert_many(
                    conn, planned.new_runs(batches, started), now=now
                )
                await schedules_repo.advance_many(conn, planned.advances, now)
                if events := _incident_events(inserted):
                    await record_events(conn, events, alerts)
                await schedules_repo.pause_unusable(conn, planned.unusable, now)
                # The tenants' buckets stay locked to commit.
                await catchup.charge(conn, pass_now)
                if held is not None and max_runs_in_flight is not None and started:
                    await keep_seat(conn, held, now)
            break
        except SeatLost:
            continue  # rolled back: the pass again, its capped runs left for the lock
    created = {r.id for r in inserted}
    STARTED_AHEAD.add(planned.started_ahead(inserted, started))
    return PassStats(
        claimed=len(claimed),
        statuses=Counter(r.status for r in inserted),
        jobs=len(batches),
        left=len(claimed) - planned.schedules,
        local_jobs=[(job, [run for run in runs if run in created]) for job, runs in local],
        paused=[schedule_id for schedule_id, _ in planned.unusable],
    )


@dataclass(slots=True)
class _Planned:
    """A pass's decisions, before anything is written: each slot to record (with the id of a
    run that will run: its job is deferred before the insert, so each row is written once,
    job id included), each schedule's advance, and the schedules that cannot be planned."""

    slots: list[tuple[Schedule, SlotRow, UUID | None]] = field(default_factory=list)
    advances: list[ScheduleAdvance] = field(default_factory=list)
    unusable: list[tuple[UUID, str]] = field(default_factory=list)
    schedules: int = 0  # the claimed schedules planned (or noted unusable) so far

    @property
    def run_ids(self) -> list[UUID]:
        return [run for _, _, run in self.slots if run is not None]

    def started_ahead(
        self, inserted: Sequence[InsertedRun], started: set[UUID]
    ) -> dict[UUID, tuple[datetime, Dispatched | None]]:
        """The runs inserted `running` for this process, with what their first attempts are
        built from; a schedule's own target is read at the start (its tenant's keys)."""
        made = {r.id for r in inserted if r.id in started}
        return {
            run: (slot.scheduled_at, (schedule, slot) if schedule.target_url is None else None)
            for schedule, slot, run in self.slots
            if run is not None and run in made
        }

    def new_runs(
        self, batches: Sequence[tuple[int, list[UUID]]], started: set[UUID]
    ) -> list[NewRun]:
        """The rows to insert, each with its job (`batches`) and, for the runs in `started`,
        written as their first attempt already under way."""
        job_of: dict[UUID | None, int] = {run: job for job, runs in batches for run in runs}
        return [
            NewRun.for_slot(schedule, slot, id=run, job_id=job_of.get(run), started=run in started)
            for schedule, slot, run in self.slots
        ]


async def _plan(
    conn: Conn,
    claimed: Sequence[Claimed],
    now: datetime | None,
    pass_now: datetime,
    catchup: CatchupAllowance,
    row_budget: int,
) -> _Planned:
    """Each claimed schedule's pass, as of its fire instant (or `now` when later), within the
    tenants' catch-up allowance, in claim order until the slots reach `row_budget`."""
    planned = _Planned()
    for claim in claimed:
        if planned.schedules and len(planned.slots) >= row_budget:
            break
        planned.schedules += 1
        schedule = claim.schedule
        as_of = max(now or claim.db_now, schedule.next_fire_at or claim.db_now)
        result = _plan_or_note(schedule, as_of, claim.active_runs, claim.buffered_runs)
        if isinstance(result, str):
            planned.unusable.append((schedule.id, result))
            continue
        result = await catchup.within_quota(
            conn,
            schedule,
            result,
            as_of,
            pass_now,
            active_runs=claim.active_runs,
            buffered_runs=claim.buffered_runs,
        )
        # Ids in time order (app/domain/run_ids.py), from the pass's reading of the clock.
        planned.slots += [
            (
                schedule,
                row,
                run_id(pass_now) if row.status == "pending" and not row.buffered else None,
            )
            for row in result.rows
        ]
        planned.advances.append(
            ScheduleAdvance(
                schedule.id,
                result.next.state,
                result.next.next_run_at,
                result.next.next_fire_at,
                result.remaining_runs,
                result.missed_uncounted,
                max(
                    (r.fire_at for r in result.rows if r.status == "pending" and not r.buffered),
                    default=None,
                ),
            )
        )
    return planned


async def _started_here(
    conn: Conn,
    planned: _Planned,
    local: Sequence[tuple[int, list[UUID]]],
    max_runs_in_flight: int | None,
    seat: UUID | None,
    now: datetime | None,
) -> set[UUID]:
    """The runs of the jobs claimed for this process that are inserted `running`. A tenant's
    runs are started here only where `start_batch` would start them without its per-tenant
    lock (app/services/attempts.py `start_without_lock`, which holds that lock shared until
    this pass commits); otherwise they stay `pending`. The pass is one start of all of a
    tenant's runs it inserts started, however many jobs they are in."""
    runs = {run for _, ids in local for run in ids}
    if not runs:
        return set()
    tenant_of = {run: s.tenant for s, _, run in planned.slots if run in runs}
    if max_runs_in_flight is None:
        return set(tenant_of)
    if seat is None:
        return set()
    here = Counter(tenant_of.values())  # per tenant, its runs this pass would start
    room = await start_without_lock(conn, here, max_runs_in_flight, seat, now)
    return {run for run, tenant in tenant_of.items() if tenant in room}


def _incident_events(inserted: Sequence[InsertedRun]) -> list[IncidentEvent]:
    """slot.missed: each slot recorded `missed` is an occurrence. Only misses are events here:
    the pass holds its claimed schedules locked, and looking up incidents for every schedule
    it fires would multiply the database's CPU per slot (docs/benchmarks.md). The resolution
    comes when a run fired on time
    ends (app/services/attempts.py `after_runs_end`). Rows of slots already recorded (a
    lost race) are not events."""
    return [
        IncidentEvent(r.trigger_id, "slot.missed", "open", r.id)
        for r in inserted
        if r.status == "missed"
    ]


def _plan_or_note(
    schedule: Schedule, as_of: datetime, active_runs: int, buffered_runs: int
) -> PassResult | str:
    """The schedule's pass, or the note to pause it with when it cannot be planned: one
    unusable stored row must not fail the pass of every schedule claimed with it (H2)."""
    try:
        return plan_pass(schedule, as_of, active_runs=active_runs, buffered_runs=buffered_runs)
    except Exception as exc:
        note = unusable_note(exc)
        log.error(
            "schedule paused: it cannot be planned",
            exc_info=not isinstance(exc, SchedulerError),  # a bug: its traceback
            extra={
                "event": "dispatch.schedule_unusable",
                "schedule_id": str(schedule.id),
                "tenant": schedule.tenant,
                "note": note,
            },
        )
        return note


@dataclass(frozen=True, slots=True)
class Lookahead:
    """How far ahead of a fire instant the dispatcher starts on it: `base` seconds for any
    instant, plus, for a crowded one, the time its slots take to dispatch and prepare: slots
    due × seconds per slot (`SlotCost`, measured) ÷ the dispatchers that share them, times
    `margin`. No cap: 100,000 slots due at one instant need tens of seconds of work, and all
    of it must be done before the instant for the requests to leave at it. What bounds it is
    memory: `count_limit` (the slots counted, derived from the runs the workers may hold
    prepared, SCHEDULER_PREPARED_RUNS_MEMORY_MB) and the local runner's budget.

    Only the crowded second itself is dispatched that early (`Lead.crowd`): any other schedule
    keeps the `base` lead. A run dispatched ahead is a committed decision: pausing or editing
    its schedule within that lead does not call the run back (docs/semantics.md)."""

    base: float = 0.3
    margin: float = 1.5
    count_limit: int = 200_000

    def seconds(self, due: int, per_slot: float, dispatchers: int = 1) -> float:
        return self.base + self.margin * per_slot * due / max(1, dispatchers)


PESSIMISTIC_SLOT_SECONDS = 0.001
"""What a slot took with only one of the bench machine's two cores free (docs/benchmarks.md):
where a process's measure starts, and the most that small runs of passes can say."""


@dataclass(slots=True)
class SlotCost:
    """Wall seconds of dispatching per slot, for all dispatchers together: what a crowded
    instant's lead is made of. Measured by each dispatcher on its own runs of passes (its
    wall time ÷ the slots it claimed, × the dispatchers that claimed alongside it), smoothed;
    `seconds` starts pessimistic, so the first crowd of a process is not dispatched late; too
    early only costs memory, which the local runner's budget bounds.

    A run of at least `min_sample` slots among all the dispatchers is a sample on its own.
    Smaller runs are pooled until they add up to `min_sample`, and their pooled sample counts
    only up to the pessimistic start: a few slots' passes are mostly round trips, which say
    little of a crowd, but without them the lead could stay pessimistic for good. At 1,000
    every second shared by two dispatchers, a lead of 1.05 s (the pessimistic start's) starts
    before the previous second's runs are recorded, so each second is claimed in dribbles as
    they are, and no run of passes ever reaches `min_sample`: one steady run in seven stayed
    so, at 0.45 ms a slot against ~0.40 (docs/benchmarks.md, eighteenth stop). Counted in
    this dispatcher's share alone, before the dispatchers were counted, that was every run
    (0.386 and 0.468 ms a slot against 0.442 and 0.548, seventeenth stop)."""

    seconds: float = PESSIMISTIC_SLOT_SECONDS
    min_sample: int = 1_000
    weight: float = 0.5  # of the newest sample
    _pooled_elapsed: float = field(default=0.0, init=False)
    _pooled_slots: int = field(default=0, init=False)

    def observe(self, elapsed: float, claimed: int, dispatchers: int) -> None:
        slots = claimed * max(1, dispatchers)  # each dispatcher claimed 1/dispatchers
        if slots <= 0 or elapsed <= 0:
            return
        if slots >= self.min_sample:
            self._pooled_elapsed, self._pooled_slots = 0.0, 0  # a better sample than those
            self._add(elapsed / slots)
            return
        self._pooled_elapsed += elapsed
        self._pooled_slots += slots
        if self._pooled_slots >= self.min_sample:
            pooled = self._pooled_elapsed / self._pooled_slots
            self._pooled_elapsed, self._pooled_slots = 0.0, 0
            self._add(min(pooled, PESSIMISTIC_SLOT_SECONDS))

    def _add(self, sample: float) -> None:
        self.seconds += self.weight * (sample - self.seconds)


@dataclass(frozen=True, slots=True)
class Lead:
    """What the coming passes dispatch ahead: every schedule due within `seconds`, and every
    schedule of the crowded second `crowd` within its own (longer) lead."""

    seconds: float
    crowd: Crowd | None = None

    def covers(self, other: Lead) -> bool:
        """Whether this lead claims everything `other` does (on the same clock)."""
        if self.seconds < other.seconds:
            return False
        mine, theirs = self.crowd, other.crowd
        if theirs is None:
            return True
        return (
            mine is not None
            and (mine.start, mine.end) == (theirs.start, theirs.end)
            and mine.lead >= theirs.lead  # the count moves as other dispatchers claim
        )


@dataclass(frozen=True, slots=True)
class Wake:
    """When the dispatcher should start again (seconds from now; None: nothing active), with
    what lead, and how many dispatchers share the work."""

    delay: float | None
    lead: Lead
    dispatchers: int = 1


WAITING_RECHECK_SECONDS = 0.05
"""How often the dispatcher looks again, inside an instant's lead, when every schedule at that
instant waits for its previous run to be recorded. A schedule is claimed ahead only once that
run is recorded; the sooner it is seen, the likelier its next slot is dispatched before its
instant rather than after it. At 4,000 every second, four pairs against 0.25 s: 0, 0, 361 and
16,254 slots skipped against 3,233, 3,750, 1,078 and 33,823; lag p99 lower in three of the
four (docs/benchmarks.md, sixteenth stop). The cost is in the looks: a waiting schedule's
lead (0.3 s) is looked at ~6 times instead of ~2, each one next-wake query (M4)."""


async def next_wake(
    conn: Conn,
    lookahead: Lookahead,
    cost: SlotCost | None = None,
    *,
    now: datetime | None = None,
    recheck: float = WAITING_RECHECK_SECONDS,
) -> Wake:
    """When the dispatcher should start on the earliest fire instant, on the database clock
    (or `now`), and the lead to dispatch it with: the instant's second is the crowd.

    When every schedule at that instant waits for an unfinished run (it is claimed ahead only
    once the run has finished, else at its instant), the dispatcher looks again every `recheck`
    seconds inside the lookahead, and at the instant at the latest, instead of at once (M4)."""
    per_slot = (cost or SlotCost()).seconds
    first = await schedules_repo.next_fire(conn, lookahead.count_limit, now)
    if first.due_in_second > max(STALE_STATISTICS_FLOOR, first.planned_rows):
        await _refresh_statistics(conn, first.due_in_second, first.planned_rows)
    if first.at is None:
        return Wake(None, Lead(lookahead.base), first.dispatchers)
    ahead = lookahead.seconds(first.due_in_second, per_slot, first.dispatchers)
    lead = Lead(lookahead.base, Crowd(first.at, first.at + timedelta(seconds=1), ahead))
    until = (first.at - first.now).total_seconds()
    delay = until - ahead
    if not first.goes_ahead:
        delay = max(delay, min(recheck, until))
    return Wake(max(0.0, delay), lead, first.dispatchers)


STALE_STATISTICS_FLOOR = 1_000
"""Below this many slots in one second, a plan for too few rows costs little."""


async def _refresh_statistics(conn: Conn, due: int, planned_rows: int) -> None:
    """ANALYZE the schedules when a crowd outnumbers what the planner thinks is stored: the
    claim's plan for each of the crowd's passes depends on it (db/queries/schedules.sql,
    schedule_analyze). Once analyzed, the estimate covers the crowd and this does not recur."""
    log.info(
        "schedules analyzed: a crowded instant outnumbers the planner's statistics",
        extra={"event": "dispatch.analyze", "due": due, "planned_rows": planned_rows},
    )
    await schedules_repo.analyze(conn)
