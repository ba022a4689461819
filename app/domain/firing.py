"""What one dispatcher pass does with one due schedule (SPEC §4.1, §4.3, §4.4). Pure.

Given the schedule as claimed, the database's `now` and how many of its runs are unfinished,
`plan_pass` decides, for every slot whose fire instant (slot + jitter) has passed:

- on time (fired at most `misfire_grace_seconds` late): it fires;
- misfired, by `misfire_policy`: `skip` records it `missed`; `fire_once` fires only the latest
  misfired slot inside the catch-up window (trigger `catchup`), and only when no on-time slot
  fires in the same pass; `fire_all` fires the misfired slots inside the window, oldest first,
  at most `MAX_CATCHUP_FIRES`; every other misfired slot is `missed`;
- a slot that would fire while a previous run is unfinished follows `overlap_policy`: `skip`
  records it `skipped`; `buffer_one` keeps one waiting (pending, `buffered`) and skips the rest;
  `allow_all` fires it;
- `remaining_runs` bounds the fires; when it reaches 0 the schedule ends.

With `max_catchup` (the tenant's runs-per-minute quota left), catch-up slots beyond it are
recorded `missed` with `CATCHUP_OVER_QUOTA` as their error, oldest kept: recorded, not lost.

Missed rows are capped at `MAX_MISSED_ROWS` per pass (the oldest are recorded); the rest are
only counted (`missed_uncounted`), so a week of downtime cannot flood the history.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from app.domain.cron import CronSpec, parse_cron
from app.domain.execution import ScheduledOrigin
from app.domain.jitter import jitter_offset
from app.domain.schedule import Plan, Schedule, plan
from app.domain.slot_math import count_slots, last_slot_before
from app.domain.slots import iter_slots, slots_between
from app.domain.timezones import load_zone
from app.errors import ValidationFailed

MAX_MISSED_ROWS = 1_000
MAX_CATCHUP_FIRES = 100
MAX_ON_TIME_FIRES = 1_000
_TICK = timedelta(microseconds=1)
CATCHUP_OVER_QUOTA = (
    "missed: catch-up beyond the tenant's quota of runs per minute "
    "(SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE)"
)

RowStatus = Literal["pending", "missed", "skipped"]


@dataclass(frozen=True, slots=True)
class SlotRow:
    """One execution row to insert for a slot."""

    scheduled_at: datetime
    fire_at: datetime
    status: RowStatus
    trigger: ScheduledOrigin
    error: str | None = None
    buffered: bool = False


@dataclass(frozen=True, slots=True)
class PassResult:
    rows: list[SlotRow]
    missed_uncounted: int
    remaining_runs: int | None
    next: Plan


@dataclass
class _Overlap:
    """Running tally of the schedule's unfinished runs while slots are decided in order."""

    policy: str
    active: int
    buffered: int

    def decide(self, slot: datetime, fire_at: datetime, trigger: ScheduledOrigin) -> SlotRow:
        if self.active == 0 or self.policy == "allow_all":
            self.active += 1
            return SlotRow(slot, fire_at, "pending", trigger)
        if self.policy == "buffer_one" and self.buffered == 0:
            self.buffered += 1
            return SlotRow(slot, fire_at, "pending", trigger, buffered=True)
        return SlotRow(
            slot,
            fire_at,
            "skipped",
            trigger,
            error="overlap: the previous run of this schedule has not finished",
        )


MAX_NOTE_CHARS = 500  # the pause_note column's CHECK


def unusable_note(exc: Exception) -> str:
    """The pause note of a stored schedule that `plan_pass` cannot plan: a zone that a tzdata
    upgrade removed (tzdata 2020b dropped `US/Pacific-New`), a cron expression this version
    refuses, or a bug. Such a schedule is paused so that it cannot stop the others firing."""
    if isinstance(exc, ValidationFailed):
        field = {"timezone": "time zone", "cronExpression": "cron expression"}.get(
            exc.field or "", "settings"
        )
        note = (
            f"paused by the scheduler: its {field} can no longer be used ({exc.message}); "
            "change it, then resume the schedule"
        )
    else:
        note = (
            f"paused by the scheduler: its next slot could not be computed ({type(exc).__name__}"
            "); this is a bug, please report it; resume the schedule to try again"
        )
    return note[:MAX_NOTE_CHARS]


def plan_pass(
    schedule: Schedule,
    now: datetime,
    *,
    active_runs: int,
    buffered_runs: int,
    max_catchup: int | None = None,
) -> PassResult:
    """Decide every slot of `schedule` due by `now` and the schedule's next slot; at most
    `max_catchup` catch-up fires (None: no quota)."""
    assert schedule.next_run_at is not None, "only active schedules are dispatched"
    spec, zone = parse_cron(schedule.cron_expression), load_zone(schedule.timezone)
    jitter = jitter_offset(schedule.id, schedule.jitter_seconds)
    horizon = now - jitter  # slots up to here have reached their fire instant
    if schedule.end_at is not None:
        horizon = min(horizon, schedule.end_at)
    first = schedule.next_run_at
    if first >= now - jitter - timedelta(seconds=schedule.misfire_grace_seconds):
        single = _single_on_time_slot(schedule, first, horizon, jitter, active_runs, buffered_runs)
        if single is not None:
            return single
    on_time_from = max(first, now - jitter - timedelta(seconds=schedule.misfire_grace_seconds))
    window_from = max(first, now - jitter - timedelta(seconds=schedule.catchup_window_seconds))

    on_time = slots_between(spec, zone, on_time_from, horizon + _TICK, limit=None)
    if len(on_time) > MAX_ON_TIME_FIRES:
        on_time_from = on_time[-MAX_ON_TIME_FIRES]
        on_time = on_time[-MAX_ON_TIME_FIRES:]
    misfire_end = min(on_time_from, horizon + _TICK)

    catchup: list[datetime] = []
    if schedule.misfire_policy == "fire_all":
        catchup = slots_between(spec, zone, window_from, misfire_end, limit=MAX_CATCHUP_FIRES)
    elif schedule.misfire_policy == "fire_once" and not on_time:
        latest = last_slot_before(spec, zone, misfire_end, window_from)
        catchup = [latest] if latest is not None else []

    over_quota: list[SlotRow] = []
    if max_catchup is not None and len(catchup) > max_catchup:
        kept = max(0, max_catchup)
        over_quota = [
            SlotRow(s, s + jitter, "missed", "catchup", error=CATCHUP_OVER_QUOTA)
            for s in catchup[kept:]
        ]
        catchup = catchup[:kept]

    overlap = _Overlap(schedule.overlap_policy, active_runs, buffered_runs)
    remaining = schedule.remaining_runs
    rows: list[SlotRow] = list(over_quota)
    fired: set[datetime] = {row.scheduled_at for row in over_quota}
    candidates: list[tuple[datetime, ScheduledOrigin]] = [(s, "catchup") for s in catchup]
    candidates += [(s, "schedule") for s in on_time]
    for slot, trigger in candidates:
        if remaining is not None and remaining <= 0:
            break
        row = overlap.decide(slot, slot + jitter, trigger)
        rows.append(row)
        fired.add(slot)
        if row.status == "pending" and remaining is not None:
            remaining -= 1

    missed_total = count_slots(spec, zone, first, misfire_end) - len(
        [s for s in fired if s < misfire_end]
    )
    missed_rows = _oldest_missed(spec, zone, first, misfire_end, fired, jitter)
    rows = sorted(rows + missed_rows, key=lambda r: r.scheduled_at)

    return PassResult(
        rows=rows,
        missed_uncounted=max(0, missed_total - len(missed_rows)),
        remaining_runs=remaining,
        next=plan(_with_remaining(schedule, remaining), horizon),
    )


def _single_on_time_slot(
    schedule: Schedule,
    slot: datetime,
    horizon: datetime,
    jitter: timedelta,
    active_runs: int,
    buffered_runs: int,
) -> PassResult | None:
    """The common case, decided without counting anything: the one due slot is on time and the
    next one is not due yet. None when that is not the case (the general path decides)."""
    remaining = schedule.remaining_runs
    row = _Overlap(schedule.overlap_policy, active_runs, buffered_runs).decide(
        slot, slot + jitter, "schedule"
    )
    if row.status == "pending" and remaining is not None:
        remaining -= 1
    after = plan(_with_remaining(schedule, remaining), slot)
    if after.next_run_at is not None and after.next_run_at <= horizon:
        return None
    return PassResult(rows=[row], missed_uncounted=0, remaining_runs=remaining, next=after)


def _with_remaining(schedule: Schedule, remaining: int | None) -> Schedule:
    """The schedule after its pass. Most schedules have no limit of runs, so nothing changed:
    `dataclasses.replace` of a 34-field schedule was 3 % of a steady worker's CPU (py-spy)."""
    if remaining == schedule.remaining_runs:
        return schedule
    return dataclasses.replace(schedule, remaining_runs=remaining)


def _oldest_missed(
    spec: CronSpec,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    fired: set[datetime],
    jitter: timedelta,
) -> list[SlotRow]:
    rows: list[SlotRow] = []
    for slot in iter_slots(spec, zone, start - _TICK):
        if slot >= end or len(rows) >= MAX_MISSED_ROWS:
            break
        if slot not in fired:
            rows.append(
                SlotRow(
                    slot,
                    slot + jitter,
                    "missed",
                    "schedule",
                    error="missed: no worker dispatched it in time (misfire)",
                )
            )
    return rows
