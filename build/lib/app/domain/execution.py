"""An execution (one run of one slot) and its states (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

Status = Literal[
    "pending", "running", "retrying", "succeeded", "failed", "skipped", "missed", "cancelled"
]
UNFINISHED: frozenset[str] = frozenset({"pending", "running", "retrying"})
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "missed", "cancelled"})


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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Execution:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})
