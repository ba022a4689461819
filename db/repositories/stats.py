"""Statistics rows: folding deltas, and reading the metrics of a schedule, a tenant or all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from db.queries import execute, fetch_all, fetch_one
from db.types import Conn, Params

Metrics = dict[tuple[str, str], int]


async def _metrics(conn: Conn, name: str, params: Params) -> Metrics:
    return {(r["metric"], r["key"]): int(r["value"]) for r in await fetch_all(conn, name, params)}


async def of_schedule(conn: Conn, trigger_id: UUID) -> Metrics:
    return await _metrics(conn, "stats_of_schedule", {"trigger_id": trigger_id})


async def of_tenant(conn: Conn, tenant: str) -> Metrics:
    return await _metrics(conn, "stats_of_tenant", {"tenant": tenant})


async def global_metrics(conn: Conn) -> Metrics:
    return await _metrics(conn, "stats_global", {})


@dataclass(frozen=True, slots=True)
class StatusTotals:
    """A schedule's finished runs: all of them, the succeeded, the failed (failed or timed
    out)."""

    total: int
    succeeded: int
    failed: int


async def summaries(conn: Conn, trigger_ids: Sequence[UUID]) -> dict[UUID, StatusTotals]:
    """StatusTotals of the schedules among `trigger_ids` that have finished runs."""
    if not trigger_ids:
        return {}
    rows = await fetch_all(
        conn,
        "stats_summaries",
        {"trigger_ids": list(trigger_ids), "scopes": [f"s:{i}" for i in trigger_ids]},
    )
    return {
        r["trigger_id"]: StatusTotals(
            int(r["total"] or 0), int(r["succeeded"] or 0), int(r["failed"] or 0)
        )
        for r in rows
    }


async def fold(
    conn: Conn, limit: int = 50_000, *, every: float = 0.0, now: datetime | None = None
) -> int | None:
    """Fold up to `limit` deltas into values, in one transaction; returns how many moved, or
    None when it is not this call's turn: another worker is folding right now (it skips,
    nothing waits) or the deployment's last fold is less than `every` seconds before `now`
    (None: the database clock)."""
    async with conn.transaction():
        row = await fetch_one(conn, "stats_fold_turn", {"every": every, "now": now})
        if not row or not row["got"]:
            return None
        done = await fetch_one(conn, "stats_fold", {"limit": limit})
    return int(done["moved"]) if done else 0


async def prune_zero_values(conn: Conn) -> None:
    """Forget the per-schedule counters that are all zero (their history is gone)."""
    await execute(conn, "stat_values_prune_zero")
