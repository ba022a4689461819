"""The session settings every connection of ours starts with (the pools' and the CLI's)."""

from __future__ import annotations

from db.types import Conn


async def configure_session(conn: Conn) -> None:
    """Set the session's time zone to UTC and turn JIT off, over what the URL's own `options`
    or the server set (the URL's other options, such as a statement_timeout, stay).

    Statements rather than `-c` startup options appended to the URL: PgBouncer (session mode,
    tests/acceptance/test_pgbouncer.py) refuses a startup parameter it does not know,
    `options` included ("unsupported startup parameter"), and one listed in its
    ignore_startup_parameters is dropped, so the settings would be lost behind it."""
    # Instants are compared and returned in UTC whatever the server's or database's TimeZone
    # (psycopg returns timestamptz in the session's zone).
    await conn.execute("SET TIME ZONE 'UTC'")
    # Every statement here is short; over a partitioned history the planner's cost estimates
    # pass jit_above_cost, and compiling made a 4 ms claim take ~500-700 ms
    # (docs/history-partitions.md).
    await conn.execute("SET jit = off")
