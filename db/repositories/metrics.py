"""Numbers for /metrics that are not statistics: queue depth, backlog, schedules by state.

Each is bounded (a LIMIT on an index range, or an estimate), never a scan of a whole table.
"""

from __future__ import annotations

from datetime import datetime

from db.queries import query
from db.types import Conn


async def queue_depth(conn: Conn, cap: int) -> dict[tuple[str, str], int]:
    """Jobs by (queue, status) among the first `cap` todo/doing jobs found."""
    cursor = await conn.execute(query("metrics_queue_depth"), {"cap": cap})
    return {(r["queue_name"], r["status"]): int(r["n"]) for r in await cursor.fetchall()}


async def due_backlog(conn: Conn, cap: int, now: datetime | None = None) -> int:
    """Active schedules past their fire instant by over a second, counted up to `cap`."""
    cursor = await conn.execute(query("metrics_due_backlog"), {"cap": cap, "now": now})
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def schedules_bytes(conn: Conn) -> int:
    cursor = await conn.execute(query("metrics_schedules_bytes"))
    row = await cursor.fetchone()
    return int(row["bytes"]) if row else 0


async def schedules_by_state(conn: Conn) -> dict[str, int]:
    """Exact counts, by a scan of the table."""
    cursor = await conn.execute(query("metrics_schedules_by_state"))
    return {r["state"]: int(r["n"]) for r in await cursor.fetchall()}


async def schedules_by_state_estimate(conn: Conn) -> dict[str, int]:
    """The planner's estimates, without reading the table (empty before its first ANALYZE)."""
    cursor = await conn.execute(query("metrics_schedules_by_state_estimate"))
    return {r["state"]: int(r["n"]) for r in await cursor.fetchall()}
