"""Readiness probes."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, errors

from db.queries import query


async def migration_version(conn: AsyncConnection[dict[str, Any]]) -> str | None:
    try:
        cursor = await conn.execute(query("migration_version"))
    except errors.UndefinedTable:
        return None
    row = await cursor.fetchone()
    return str(row["version_num"]) if row else None
