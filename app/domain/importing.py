"""What a schedule of the replaced system becomes here (`scheduler import`): pure mapping.

Two sources (docs/migrating-from-bullmq.md):
- BullMQ's repeat set of a queue: job schedulers (BullMQ >= 5.16, `upsertJobScheduler`) and
  legacy repeatable jobs (`queue.add(name, data, {repeat})`), read by app/services/importing.py;
- the replaced system's `workflow_triggers` rows with `trigger_type = 'schedule'`.

Each becomes a `Candidate` (the fields of a batch item, `id` always set, so a second run updates
instead of creating twice) or a `Skipped` with the reason. No clock and no I/O here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid5

from app.domain.schedule import NewSchedule, ScheduleChanges

IMPORT_NAMESPACE = UUID("5f0c7d1e-8a4b-5c3e-9f21-6b7a8c9d0e1f")
"""Ids made for BullMQ schedulers that name no UUID: uuid5(this, "bullmq:<queue>:<scheduler>"),
the same on every run (so a second run finds the schedules of the first)."""

EPOCH_WEEKDAY = 4
"""1970-01-01, where BullMQ's `every` slots are counted from, was a Thursday (cron's 4)."""

UNSUPPORTED = {
    "L": "L (last day)",
    "W": "W (nearest weekday)",
    "#": "# (nth weekday of the month)",
    "?": "? (no specific value)",
    "H": "H (hashed value)",
}
_NAMES = re.compile(r"JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A schedule to create or update: `fields` are a batch item's (`id` set)."""

    source: str
    id: UUID
    fields: NewSchedule


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str
    reason: str


Mapped = Candidate | Skipped


@dataclass(frozen=True, slots=True)
class RepeatEntry:
    """One member of a BullMQ queue's repeat set (`<prefix>:<queue>:repeat`), as stored.

    `kind` is "scheduler" for a job scheduler (its hash counts iterations, `ic`), "legacy" for a
    repeatable job added with `{repeat}`. `data` is the scheduler's template data, else the data
    of the job BullMQ created for the next slot (None when that job is gone); `job_offset` the
    `repeat.offset` of that job (legacy `every` jobs run that many ms after their slot).
    """

    key: str
    next_millis: int
    kind: Literal["scheduler", "legacy"]
    name: str | None = None
    pattern: str | None = None
    every: int | None = None
    tz: str | None = None
    start_date: int | None = None
    end_date: int | None = None
    limit: int | None = None
    iteration_count: int | None = None
    data: Mapping[str, Any] | None = None
    job_id_option: str | None = None
    job_offset: int = 0


def map_bullmq(entry: RepeatEntry, queue: str, *, paused: bool) -> Mapped:
    """The schedule a BullMQ scheduler or repeatable job becomes, or why it cannot."""
    label = "scheduler" if entry.kind == "scheduler" else "repeatable job"
    source = f"bullmq {label} {entry.key}"
    if entry.data is None:
        return Skipped(
            source,
            "its data is gone (no job for its next slot: it may be running right now); "
            "run the import again",
        )
    data = entry.data
    workflow_id = _text(data.get("workflowId")) or _text(entry.name)
    if workflow_id is None:
        return Skipped(source, "no workflowId in its data and no job name")
    job_input = data.get("input", {})
    problem = _field_problem(workflow_id, job_input, "data.input")
    if problem:
        return Skipped(source, problem)
    if entry.pattern:
        problem = unsupported_feature(entry.pattern)
        if problem:
            return Skipped(source, problem)
        cron, timezone = entry.pattern, entry.tz or "UTC"
    elif entry.every:
        phase = entry.next_millis + (entry.job_offset if entry.kind == "legacy" else 0)
        cron_or_reason = every_to_cron(entry.every, phase)
        if isinstance(cron_or_reason, Skipped):
            return Skipped(source, cron_or_reason.reason)
        cron, timezone = cron_or_reason, "UTC"  # `every` counts milliseconds: no zone
    else:
        return Skipped(source, "neither a pattern nor `every`")
    identity = (
        entry.key if entry.kind == "scheduler" else f"legacy:{entry.job_id_option or entry.key}"
    )
    schedule_id = (
        _uuid(data.get("triggerId"))
        or (_uuid(entry.key) if entry.kind == "scheduler" else None)  # legacy keys are hashes
        or uuid5(IMPORT_NAMESPACE, f"bullmq:{queue}:{identity}")
    )
    remaining = None
    if entry.limit is not None:
        remaining = max(0, entry.limit - max(0, (entry.iteration_count or 1) - 1))
    return Candidate(
        source,
        schedule_id,
        {
            "id": schedule_id,
            "workflow_id": workflow_id,
            "cron_expression": cron,
            "timezone": timezone,
            "input": job_input,
            "start_at": _instant(entry.start_date),
            "end_at": _instant(entry.end_date),
            "remaining_runs": remaining,
            **_pause_fields(paused, source),
        },
    )


def map_trigger(row: Mapping[str, Any], *, paused: bool) -> Mapped:
    """The schedule a `workflow_triggers` row (trigger_type 'schedule') becomes.

    The row is the replaced system's, whatever columns its version has: the id is `trigger_id`
    (or `id`), the cron, zone, enabled flag and input come from its `config` jsonb (`cron`,
    `timezone`, `enabled`, `input`); a row whose `is_active` is false is not scheduled there,
    so it is skipped; `schedule_enabled = false` (paused there) imports paused.
    """
    raw_id = row.get("trigger_id", row.get("id"))
    source = f"workflow_triggers {raw_id}"
    trigger_id = _uuid(raw_id)
    if trigger_id is None:
        return Skipped(source, "its trigger_id is not a UUID")
    if row.get("is_active") is False:
        return Skipped(source, "is_active is false: the replaced system does not schedule it")
    config = row.get("config")
    if not isinstance(config, dict):
        return Skipped(source, "config is not a JSON object")
    cron = _text(config.get("cron"))
    if cron is None:
        return Skipped(source, "config has no cron")
    problem = unsupported_feature(cron)
    if problem:
        return Skipped(source, problem)
    workflow_id = _text(row.get("workflow_id"))
    if workflow_id is None:
        return Skipped(source, "no workflow_id")
    job_input = config.get("input", {})
    problem = _field_problem(workflow_id, job_input, "config.input")
    if problem:
        return Skipped(source, problem)
    enabled = config.get("enabled", row.get("schedule_enabled"))
    stays_paused = paused or enabled is False
    fields: NewSchedule = {
        "id": trigger_id,
        "workflow_id": workflow_id,
        "cron_expression": cron,
        "timezone": _text(config.get("timezone")) or "UTC",
        "input": job_input,
        **_pause_fields(stays_paused, source),
    }
    if enabled is False and not paused:
        fields["pause_note"] = f"imported paused from {source}: it was disabled there"[:MAX_NOTE]
    return Candidate(source, trigger_id, fields)


def unsupported_feature(pattern: str) -> str | None:
    """Why a cron-parser pattern cannot be imported as it is (None: it may be)."""
    bare = _NAMES.sub("", pattern.upper())
    for mark, meaning in UNSUPPORTED.items():
        if mark in bare:
            return (
                f"pattern {pattern!r} uses {meaning}, which BullMQ's cron-parser supports and "
                "this scheduler does not: rewrite it (docs/migrating-from-bullmq.md)"
            )
    return None


def every_to_cron(every_ms: int, phase_ms: int) -> str | Skipped:
    """The cron (UTC) firing at every instant k * every + phase (milliseconds since the epoch,
    BullMQ's `every` slots), or a Skipped saying why no cron can.

    Cron can repeat an interval that divides a minute, an hour or a day evenly, or a whole day
    or week. The phase is kept to the second (rounded down: cron has no milliseconds)."""
    seconds, rest = divmod(every_ms, 1000)
    if rest or seconds <= 0:
        return Skipped("", f"every {every_ms} ms is not a whole number of seconds")
    phase = (phase_ms // 1000) % seconds
    second, minute, hour = phase % 60, phase // 60 % 60, phase // 3600 % 24

    def fields(*rest_fields: str) -> str:
        # 5 fields when the second is 0, else 6 with the seconds first (SPEC §3).
        text = " ".join(rest_fields)
        return text if second == 0 else f"{second} {text}"

    if seconds < 60 and 60 % seconds == 0:
        step = "*" if seconds == 1 else (f"*/{seconds}" if phase == 0 else f"{phase}-59/{seconds}")
        return f"{step} * * * * *"
    if seconds < 3600 and seconds % 60 == 0 and 3600 % seconds == 0:
        return fields(_stepped(minute, seconds // 60, 59), "* * * *")
    if seconds < 86400 and seconds % 3600 == 0 and 86400 % seconds == 0:
        return fields(str(minute), _stepped(hour, seconds // 3600, 23), "* * *")
    if seconds == 86400:
        return fields(str(minute), str(hour), "* * *")
    if seconds == 7 * 86400:
        weekday = (EPOCH_WEEKDAY + phase // 86400) % 7
        return fields(str(minute), str(hour), f"* * {weekday}")
    return Skipped(
        "",
        f"every {every_ms} ms is not an interval cron can express (it must divide a minute, an "
        "hour or a day evenly, or be a day or a week): create it by hand with a cron close to it",
    )


MAX_WORKFLOW_ID = 200
MAX_NOTE = 500


def _field_problem(workflow_id: str, job_input: Any, input_name: str) -> str | None:
    """What the API's schema would refuse in these two fields (the batch service trusts its
    input's types and lengths; app/api/schemas.py checks them for the API)."""
    if len(workflow_id) > MAX_WORKFLOW_ID or "\x00" in workflow_id:
        return f"workflowId: must be 1 to {MAX_WORKFLOW_ID} characters, without NUL"
    if not isinstance(job_input, dict):
        return f"{input_name} is not a JSON object"
    if "\\u0000" in json.dumps(job_input):
        return f"{input_name} holds a NUL character (\\u0000), which PostgreSQL cannot store"
    return None


def _stepped(start: int, step: int, top: int) -> str:
    if step == 1:
        return "*"
    return f"*/{step}" if start == 0 else f"{start}-{top}/{step}"


def _pause_fields(paused: bool, source: str) -> ScheduleChanges:
    if not paused:
        return {"enabled": True, "pause_note": None}
    return {
        "enabled": False,
        "pause_note": f"imported paused from {source}: resume it when the old scheduler stops"[
            :MAX_NOTE
        ],
    }


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, UUID):
        return str(value)
    return None


def _uuid(value: Any) -> UUID | None:
    """A UUID in its usual 36-character form (not any 32 hex digits, such as an md5)."""
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _instant(millis: int | None) -> datetime | None:
    return None if millis is None else datetime.fromtimestamp(millis / 1000, tz=UTC)
