"""Statistics rows: folding deltas, and reading the metrics of a schedule, a tenant or all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from app.domain.execution import Execution
from db.queries import query
from db.types import Conn

Metrics = dict[tuple[str, str], int]


async def _metrics(conn: Conn, name: str, params: dict[str, Any]) -> Metrics:
    cursor = await conn.execute(query(name), params)
    return {(r["metric"], r["key"]): int(r["value"]) for r in await cursor.fetchall()}


async def of_schedule(conn: Conn, trigger_id: UUID) -> Metrics:
    return await _metrics(conn, "stats_of_schedule", {"trigger_id": trigger_id})


async def of_tenant(conn: Conn, tenant: str) -> Metrics:
    return await _metrics(conn, "stats_of_tenant", {"tenant": tenant})


async def global_metrics(conn: Conn) -> Metrics:
    return await _metrics(conn, "stats_global", {})


async def summaries(conn: Conn, trigger_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
    if not trigger_ids:
        return {}
    cursor = await conn.execute(
        query("stats_summaries"),
        {"trigger_ids": list(trigger_ids), "scopes": [f"s:{i}" for i in trigger_ids]},
    )
    return {
        r["trigger_id"]: {k: int(r[k] or 0) for k in ("total", "succeeded", "failed")}
        for r in await cursor.fetchall()
    }


async def latest_execution(conn: Conn, tenant: str, trigger_id: UUID) -> Execution | None:
    cursor = await conn.execute(
        query("execution_latest"), {"tenant": tenant, "trigger_id": trigger_id}
    )
    row = await cursor.fetchone()
    return Execution.from_row(row) if row else None


async def fold(conn: Conn, limit: int) -> int | None:
    """Fold up to `limit` deltas; None when another worker is folding right now."""
    async with conn.transaction():
        cursor = await conn.execute(query("stats_fold_lock"))
        row = await cursor.fetchone()
        if not row or not row["got"]:
            return None
        cursor = await conn.execute(query("stats_fold"), {"limit": limit})
        done = await cursor.fetchone()
    return int(done["moved"]) if done else 0
