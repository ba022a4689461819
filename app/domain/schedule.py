"""A schedule's fields and the rule that gives its state and next slot.

The vocabulary of a schedule is defined here once: its states, its policies, the fields a
client writes (`WRITABLE_FIELDS`) and their defaults (the `Schedule` dataclass's, collected in
`SCHEDULE_DEFAULTS`). The API's schemas and the dashboard's data are derived from them, and the
tests compare the migrations' `CHECK`s and `DEFAULT`s and the SQL column lists with them.

`plan` is the one place that decides `state`, `next_run_at` and `next_fire_at`; every change to a
schedule (create, patch, pause, resume, and later each fire) goes through it, so a worker never
sees a schedule without a correct next slot (SPEC §2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal, TypedDict, cast, get_args
from uuid import UUID

from app.domain.callbacks import DEFAULT_COMPLETION_TIMEOUT_SECONDS
from app.domain.cron import parse_cron
from app.domain.execution import Status
from app.domain.jitter import jitter_offset
from app.domain.slots import ensure_fires, next_slot, next_slots
from app.domain.target_urls import url_allowed
from app.domain.timezones import load_zone
from app.errors import ValidationFailed

State = Literal["active", "paused", "ended"]
STATES: tuple[State, ...] = get_args(State)
OverlapPolicy = Literal["skip", "buffer_one", "allow_all"]
"""A slot whose previous run is unfinished: skip it, keep one waiting, or start it anyway."""
OVERLAP_POLICIES: tuple[OverlapPolicy, ...] = get_args(OverlapPolicy)
MisfirePolicy = Literal["skip", "fire_once", "fire_all"]
"""Slots missed while no worker ran: record them missed, run the latest, or run each."""
MISFIRE_POLICIES: tuple[MisfirePolicy, ...] = get_args(MisfirePolicy)

DEFAULT_LATE_AFTER_SECONDS = 60
MAX_LATE_AFTER_SECONDS = 86_400

# Fields whose change moves the next slot; other changes (input, retries...) keep it.
TIMING_FIELDS = frozenset(
    {
        "cron_expression",
        "timezone",
        "start_at",
        "end_at",
        "jitter_seconds",
        "remaining_runs",
        "enabled",
    }
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as stored (snake_case; the API speaks camelCase)."""

    id: UUID
    tenant: str
    workflow_id: str
    cron_expression: str
    timezone: str = "UTC"
    enabled: bool = True
    state: State = "active"
    pause_note: str | None = None
    overlap_policy: OverlapPolicy = "skip"
    misfire_policy: MisfirePolicy = "fire_once"
    misfire_grace_seconds: int = 60
    catchup_window_seconds: int = 86_400
    max_attempts: int = 3
    retry_backoff_seconds: float = 10
    timeout_seconds: float = 30
    # An accepted run's wait for its result (issue 11).
    completion_timeout_seconds: int = DEFAULT_COMPLETION_TIMEOUT_SECONDS
    # A due slot with no started attempt this long after its instant opens run.late (issue 12).
    late_after_seconds: int = DEFAULT_LATE_AFTER_SECONDS
    jitter_seconds: int = 0
    start_at: datetime | None = None
    end_at: datetime | None = None
    remaining_runs: int | None = None
    pause_after_failures: int | None = None
    input: dict[str, Any] = field(default_factory=dict)
    target_url: str | None = None
    next_run_at: datetime | None = None
    next_fire_at: datetime | None = None
    last_run_at: datetime | None = None
    last_status: Status | None = None
    consecutive_failures: int = 0
    missed_uncounted: int = 0
    # The fire instant of the latest run a dispatcher pass fired (buffered runs aside): until
    # then that run has not been sent, so it is unfinished (migration 0017).
    dispatched_fire_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1


SERVER_FIELDS = frozenset(
    {
        "id",
        "tenant",
        "state",
        "next_run_at",
        "next_fire_at",
        "last_run_at",
        "last_status",
        "consecutive_failures",
        "missed_uncounted",
        "dispatched_fire_at",
        "created_at",
        "updated_at",
        "version",
    }
)
"""The fields of a `Schedule` that only the server sets: who owns it, what `plan` gives it,
the run bookkeeping and the timestamps."""
WRITABLE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Schedule) if f.name not in SERVER_FIELDS
)
"""The fields a client sets (create, PATCH, batch items), in the dataclass's order, which is
the API's: every other field of `Schedule`. A new field is writable unless it is listed above."""


def _writable_defaults() -> Mapping[str, Any]:
    values: dict[str, Any] = {}
    for item in fields(Schedule):
        if item.name not in WRITABLE_FIELDS:
            continue
        if item.default is not MISSING:
            values[item.name] = item.default
        elif item.default_factory is not MISSING:
            values[item.name] = item.default_factory()
    return MappingProxyType(values)


SCHEDULE_DEFAULTS = _writable_defaults()
"""The default of every writable field that has one (all but `workflow_id` and
`cron_expression`), as the `Schedule` dataclass above writes it: the one place they are
written. Read only."""


class _Settings(TypedDict, total=False):
    """The writable fields that have a default (`SCHEDULE_DEFAULTS`), typed as on `Schedule`."""

    timezone: str
    enabled: bool
    pause_note: str | None
    overlap_policy: OverlapPolicy
    misfire_policy: MisfirePolicy
    misfire_grace_seconds: int
    catchup_window_seconds: int
    max_attempts: int
    retry_backoff_seconds: float
    timeout_seconds: float
    completion_timeout_seconds: int
    late_after_seconds: int
    jitter_seconds: int
    start_at: datetime | None
    end_at: datetime | None
    remaining_runs: int | None
    pause_after_failures: int | None
    input: dict[str, Any]
    target_url: str | None


class ScheduleChanges(_Settings, total=False):
    """A change to a schedule: only the writable fields that are sent (a PATCH's), each typed as
    on `Schedule`, so a misspelt name is a type error. Its keys are exactly `WRITABLE_FIELDS`
    (tests/unit/test_vocabulary.py compares)."""

    workflow_id: str
    cron_expression: str


class _Workflow(TypedDict):
    workflow_id: str
    cron_expression: str


class NewSchedule(_Workflow, _Settings, total=False):
    """A schedule to create: `workflow_id` and `cron_expression`, any other writable field
    (absent ones take `SCHEDULE_DEFAULTS`), and an `id` when the client chooses it."""

    id: UUID


def changes_of(new: NewSchedule) -> ScheduleChanges:
    """The writable fields of `new` (its `id` left out), as a change to an existing schedule."""
    return cast(ScheduleChanges, {k: v for k, v in new.items() if k != "id"})


def new_schedule(tenant: str, schedule_id: UUID, fields: NewSchedule) -> Schedule:
    """`tenant`'s schedule `schedule_id` (whatever id `fields` holds) from `fields`, the others
    at their defaults; not yet planned."""
    values: dict[str, Any] = {**changes_of(fields), "id": schedule_id, "tenant": tenant}
    return Schedule(**values)


@dataclass(frozen=True, slots=True)
class Plan:
    state: State
    next_run_at: datetime | None
    next_fire_at: datetime | None


def plan(schedule: Schedule, after: datetime) -> Plan:
    """The state and next slot of `schedule` for slots strictly after `after`.

    Paused: no slot. No runs left, or the next slot would be past `end_at`: ended. `start_at` is
    inclusive (a slot exactly at `start_at` fires) and so is `end_at`.
    """
    if not schedule.enabled:
        return Plan("paused", None, None)
    if schedule.remaining_runs is not None and schedule.remaining_runs <= 0:
        return Plan("ended", None, None)
    if schedule.start_at is not None:
        after = max(after, schedule.start_at - timedelta(microseconds=1))
    slot = _next_slot(schedule.cron_expression, schedule.timezone, after)
    if slot is None or (schedule.end_at is not None and slot > schedule.end_at):
        return Plan("ended", None, None)
    return Plan("active", slot, slot + jitter_offset(schedule.id, schedule.jitter_seconds))


@lru_cache(maxsize=65_536)
def _next_slot(expression: str, timezone: str, after: datetime) -> datetime | None:
    """next_slot, remembered: schedules that share a cron and a zone share their next slot,
    and a dispatcher pass computes it once for all of them (a pure function, safe to cache)."""
    return next_slot(parse_cron(expression), load_zone(timezone), after)


def upcoming(schedule: Schedule, count: int) -> list[datetime]:
    """The next `count` nominal slots of an active schedule, from its next_run_at on.

    Honours end_at and remaining_runs, so it shows what will really fire; empty unless active.
    """
    if schedule.state != "active" or schedule.next_run_at is None or count <= 0:
        return []
    if schedule.remaining_runs is not None:
        count = min(count, schedule.remaining_runs)
    spec = parse_cron(schedule.cron_expression)
    slots = [schedule.next_run_at]
    if count > 1:
        slots += next_slots(spec, load_zone(schedule.timezone), schedule.next_run_at, count - 1)
    return [s for s in slots if schedule.end_at is None or s <= schedule.end_at]


MAX_INPUT_BYTES = 64 * 1024
"""The largest `input`, as compact JSON (SPEC §2)."""


def validate(schedule: Schedule, now: datetime, allowlist: tuple[str, ...]) -> None:
    """Everything about a schedule that a type cannot say: a workflowId that is not a dot
    segment, a valid cron and zone that fire after `now`, endAt after startAt, an input within
    MAX_INPUT_BYTES, a targetUrl under a prefix of `allowlist`. Raises ValidationFailed (422)."""
    if schedule.workflow_id in (".", ".."):
        # Quoted into SCHEDULER_TARGET_URL as a path segment, a dot segment would move the
        # request to another path of the target (HTTP clients resolve `/workflows/../execute`).
        raise ValidationFailed(
            f"workflowId: {schedule.workflow_id!r} is not allowed (it is a relative path)",
            field="workflowId",
        )
    parse_cron(schedule.cron_expression)
    load_zone(schedule.timezone)
    _ensure_fires(schedule.cron_expression, schedule.timezone, now)
    if schedule.start_at and schedule.end_at and schedule.end_at <= schedule.start_at:
        raise ValidationFailed("endAt: must be after startAt", field="endAt")
    size = len(json.dumps(schedule.input, separators=(",", ":")).encode())
    if size > MAX_INPUT_BYTES:
        raise ValidationFailed(
            f"input: {size} bytes is over the limit of {MAX_INPUT_BYTES} bytes (64 KiB)",
            field="input",
        )
    if schedule.target_url is not None and not url_allowed(schedule.target_url, allowlist):
        reason = (
            "SCHEDULER_TARGET_ALLOWLIST is empty, so no per-schedule targetUrl is allowed"
            if not allowlist
            else "it does not match any prefix in SCHEDULER_TARGET_ALLOWLIST"
        )
        raise ValidationFailed(f"targetUrl: not allowed: {reason}", field="targetUrl")


@lru_cache(maxsize=1_024)
def _ensure_fires(expression: str, timezone: str, now: datetime) -> bool:
    """ensure_fires, remembered (only the answers that pass): the items of a batch share `now`,
    and most share a cron and a zone with another item (app/services/batch.py)."""
    ensure_fires(parse_cron(expression), load_zone(timezone), now)
    return True
