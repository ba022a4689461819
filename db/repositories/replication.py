"""WAL positions of the primary and of a streaming replica (app/domain/replication.py)."""

from __future__ import annotations

from app.domain.replication import StandbyState
from db.queries import query
from db.types import Conn


async def primary_flushed(conn: Conn) -> int:
    cursor = await conn.execute(query("replication_primary_flushed"))
    row = await cursor.fetchone()
    assert row is not None
    return int(row["flushed"])


async def standby_state(conn: Conn) -> StandbyState:
    cursor = await conn.execute(query("replication_standby_state"))
    row = await cursor.fetchone()
    assert row is not None
    replayed = row["replayed"]
    return StandbyState(
        in_recovery=bool(row["in_recovery"]),
        replayed=None if replayed is None else int(replayed),
        paused=bool(row["paused"]),
    )
