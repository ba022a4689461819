"""WAL positions of the primary and of a streaming replica (app/domain/replication.py)."""

from __future__ import annotations

from app.domain.replication import StandbyState
from db.queries import fetch_one
from db.types import Conn


async def primary_flushed(conn: Conn) -> int:
    row = await fetch_one(conn, "replication_primary_flushed")
    assert row is not None
    return int(row["flushed"])


async def standby_state(conn: Conn) -> StandbyState:
    row = await fetch_one(conn, "replication_standby_state")
    assert row is not None
    replayed = row["replayed"]
    return StandbyState(
        in_recovery=bool(row["in_recovery"]),
        replayed=None if replayed is None else int(replayed),
        paused=bool(row["paused"]),
    )
