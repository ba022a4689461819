"""WAL positions for the API's read routing (app/api/read_routing.py, app/domain/replication.py)."""

from __future__ import annotations

from app.domain.replication import PrimarySample, StandbyState
from db.repositories import replication as repo
from db.types import Conn


async def primary_sample(conn: Conn, at: float) -> PrimarySample:
    """The primary's flushed position, stamped with `at` (monotonic, read before asking)."""
    return PrimarySample(at, await repo.primary_flushed(conn))


async def standby_state(conn: Conn) -> StandbyState:
    return await repo.standby_state(conn)
