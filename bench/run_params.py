"""The parameters of the engine's own history statements, for benchmarks that write runs the
way the dispatcher and the executor do (bench.run_ids, bench.history_partitions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from db.repositories.executions import AttemptOutcome, outcome_params


def insert_params(
    ids: Sequence[UUID | None],
    schedules: list[str],
    tenants: list[str],
    slot: datetime,
    *,
    status: str,
    now: datetime | None,
) -> dict[str, Any]:
    """execution_insert_many: one run of each schedule at `slot`, without jobs."""
    n = len(ids)
    return {
        "ids": list(ids),
        "job_ids": [None] * n,
        "trigger_ids": schedules,
        "workflow_ids": ["wf"] * n,
        "tenants": tenants,
        "scheduled_ats": [slot] * n,
        "fire_ats": [slot] * n,
        "statuses": [status] * n,
        "triggers": ["schedule"] * n,
        "errors": [None] * n,
        "buffereds": [False] * n,
        "now": now,
    }


def finish_params(ids: list[UUID], scheduled_ats: list[datetime]) -> dict[str, Any]:
    """execution_finish_many: each run's first attempt succeeded, in 20 ms."""
    return outcome_params(
        [
            AttemptOutcome(
                id=run,
                scheduled_at=slot,
                status="succeeded",
                attempt=1,
                completion_timeout=3600,
                http_status=200,
                duration_ms=20,
            )
            for run, slot in zip(ids, scheduled_ats, strict=True)
        ],
        None,
    )
