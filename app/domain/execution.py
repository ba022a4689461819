"""An execution (one run of one slot, the row) and its statuses (SPEC §6, docs/semantics.md).

pending → running → succeeded | failed | retrying (→ running again)
                  → accepted (the target answered 202: its workflow reports later)
                        → succeeded | failed | retrying (a retryable failure) | timed_out

One try to deliver it is an *attempt* (`attempts` counts them). The statuses, their sets and
the origins below are the one definition of this vocabulary: the API's types, the dashboard's
data (app/api/dashboard/render.py) and the statistics come from here, and
tests/unit/test_vocabulary.py and tests/integration/test_vocabulary_schema.py hold the SQL
(`CHECK`s, `IN (...)` lists, partial indexes, functions) to these sets.

The statuses are `Literal` types rather than an `Enum`: mypy checks every spelled status
against them, psycopg rows and JSON carry them as plain strings with no conversion, and the
OpenAPI document shows them inline as it always has. The tuples and sets are taken from the
types (`get_args`), so nothing is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

UnfinishedStatus = Literal["pending", "running", "retrying", "accepted"]
FinalStatus = Literal["succeeded", "failed", "timed_out", "skipped", "missed", "cancelled"]
Status = Literal[UnfinishedStatus, FinalStatus]

STATUSES: tuple[Status, ...] = get_args(Status)
UNFINISHED_STATUSES: tuple[UnfinishedStatus, ...] = get_args(UnfinishedStatus)
FINAL_STATUSES: tuple[FinalStatus, ...] = get_args(FinalStatus)
UNFINISHED: frozenset[Status] = frozenset(UNFINISHED_STATUSES)
"""A run still to end: it holds its schedule's overlap slot and cannot be pruned."""
FINISHED: frozenset[Status] = frozenset(FINAL_STATUSES)
"""A run that ended: it never changes again (it may move to a history partition, be pruned)."""
FAILURES: frozenset[Status] = frozenset({"failed", "timed_out"})
"""Final statuses that count as a failed run: success rate, streaks, pauseAfterFailures."""
COMPLETED: frozenset[Status] = frozenset({"succeeded", "failed"})
"""Ended by the target's answer or the workflow's report: the runs with a duration."""
ACCEPTED_ENDS: frozenset[Status] = COMPLETED | {"timed_out"}
"""How an `accepted` run ends: its workflow's report, or its completion deadline."""
NEVER_SENT: frozenset[Status] = frozenset({"skipped", "missed"})
"""Final from the start: the slot was recorded and never delivered."""
WAITING: frozenset[Status] = frozenset({"pending", "retrying"})
"""Waiting for its next attempt (none is in progress)."""
QUEUED: frozenset[Status] = UNFINISHED - {"accepted"}
"""Unfinished with work for the queue (a job): an `accepted` run waits for its workflow's
report instead."""
FIRED: frozenset[Status] = frozenset({"pending", "running"})
"""What a slot that fires is inserted as: waiting for its first attempt, or already started by
the dispatching process (the others of a pass are recorded `skipped` or `missed`)."""

ScheduledOrigin = Literal["schedule", "catchup"]
"""The dispatcher's runs: a slot on time, or a misfired slot caught up."""
OnDemandOrigin = Literal["manual", "backfill"]
"""The API's runs: run now, and the slots of a backfill."""
Origin = Literal[ScheduledOrigin, OnDemandOrigin]
"""What made a run. The column and the API field are named `trigger` (the replaced system's
word, kept for compatibility); in code the cause is an origin, and `trigger_id` is the
schedule's id."""
ORIGINS: tuple[Origin, ...] = get_args(Origin)


@dataclass(frozen=True, slots=True)
class Execution:
    id: UUID
    trigger_id: UUID
    workflow_id: str
    tenant: str
    scheduled_at: datetime
    status: Status
    trigger: Origin
    attempts: int = 0
    executed_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    http_status: int | None = None
    workflow_run_id: str | None = None
    error: str | None = None
    fire_at: datetime | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    accepted_at: datetime | None = None
    completion_deadline: datetime | None = None
    output: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Execution:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})
