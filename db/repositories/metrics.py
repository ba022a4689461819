"""Numbers for /metrics that are not statistics: the queue's depth (the schedules' backlog and
counts by state are in db/repositories/schedules.py).

Each is bounded (a LIMIT on an index range, or an estimate), never a scan of a whole table.
"""

from __future__ import annotations

from db.queries import fetch_all
from db.types import Conn


async def queue_depth(conn: Conn, cap: int) -> dict[tuple[str, str], int]:
    """Jobs by (queue, status) among the first `cap` todo/doing jobs found."""
    rows = await fetch_all(conn, "metrics_queue_depth", {"cap": cap})
    return {(r["queue_name"], r["status"]): int(r["n"]) for r in rows}
