"""An execution (one run of one slot) and its states (SPEC §6, docs/semantics.md).

pending → running → succeeded | failed | retrying (→ running again)
                  → accepted (the target answered 202: its workflow reports later)
                        → succeeded | failed | retrying (a retryable failure) | timed_out
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

Status = Literal[
    "pending",
    "running",
    "retrying",
    "accepted",
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "missed",
    "cancelled",
]
STATUSES: tuple[Status, ...] = get_args(Status)
UNFINISHED: frozenset[str] = frozenset({"pending", "running", "retrying", "accepted"})
FINISHED: frozenset[str] = frozenset(
    {"succeeded", "failed", "timed_out", "skipped", "missed", "cancelled"}
)
FAILURES: frozenset[str] = frozenset({"failed", "timed_out"})
"""Final statuses that count as a failed run: success rate, streaks, pauseAfterFailures."""


@dataclass(frozen=True, slots=True)
class Execution:
    id: UUID
    trigger_id: UUID
    workflow_id: str
    tenant: str
    scheduled_at: datetime
    status: Status
    trigger: str
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
