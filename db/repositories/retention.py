"""Deleting expired history in bounded batches (the zero counters that follow: stats.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from db.queries import fetch_one
from db.types import Conn


async def _count(conn: Conn, name: str, params: Mapping[str, object]) -> int:
    async with conn.transaction():
        row = await fetch_one(conn, name, params)
    return int(row["n"]) if row else 0


async def prune_executions(conn: Conn, days: int, limit: int, now: datetime | None = None) -> int:
    """Delete up to `limit` expired finished runs of the DEFAULT partition."""
    params = {"days": days, "limit": limit, "now": now}
    return await _count(conn, "execution_prune_batch", params)


async def prune_jobs(conn: Conn, limit: int) -> int:
    return await _count(conn, "job_prune_batch", {"limit": limit})


async def prune_specs(conn: Conn, limit: int, now: datetime | None = None) -> int:
    """Delete up to `limit` run specs superseded a minute before `now` (None: the database
    clock) that no unfinished run names any more."""
    return await _count(conn, "run_spec_prune_batch", {"limit": limit, "now": now})


async def release_owners(conn: Conn, limit: int) -> int:
    """Release up to `limit` schedule ids that have nothing stored any more (M1)."""
    return await _count(conn, "schedule_owner_release_batch", {"limit": limit})
