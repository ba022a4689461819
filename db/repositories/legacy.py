"""The replaced system's database (`scheduler import table`): read only, never ours."""

from __future__ import annotations

from typing import Any

from db.queries import query
from db.types import Conn


async def schedule_triggers(conn: Conn) -> list[dict[str, Any]]:
    """Every `workflow_triggers` row with trigger_type 'schedule', as a dict of its columns."""
    cursor = await conn.execute(query("legacy_schedule_triggers"))
    return [row["row"] for row in await cursor.fetchall()]
