"""Numbers for /metrics that are not statistics: queue depth, backlog, schedules by state."""

from __future__ import annotations

from db.queries import query
from db.types import Conn


async def queue_depth(conn: Conn) -> dict[tuple[str, str], int]:
    cursor = await conn.execute(query("metrics_queue_depth"))
    return {(r["queue_name"], r["status"]): int(r["n"]) for r in await cursor.fetchall()}


async def due_backlog(conn: Conn) -> int:
    cursor = await conn.execute(query("metrics_due_backlog"))
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def schedules_by_state(conn: Conn) -> dict[str, int]:
    cursor = await conn.execute(query("metrics_schedules_by_state"))
    return {r["state"]: int(r["n"]) for r in await cursor.fetchall()}
