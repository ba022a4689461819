"""The database clock (SPEC §4.1): the instant services and the worker's DbClock read."""

from __future__ import annotations

from datetime import datetime

from db.queries import fetch_one
from db.types import Conn


async def db_now(conn: Conn) -> datetime:
    """The database's clock_timestamp(), in UTC (the pool's sessions are set to UTC)."""
    row = await fetch_one(conn, "clock_now")
    assert row is not None
    now: datetime = row["now"]
    return now
