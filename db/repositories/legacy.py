"""The replaced system's database (`scheduler import table`): read only, never ours."""

from __future__ import annotations

from db.queries import fetch_all
from db.types import Conn, JsonObject


async def schedule_triggers(conn: Conn) -> list[JsonObject]:
    """Every `workflow_triggers` row with trigger_type 'schedule', as a dict of its columns."""
    return [row["row"] for row in await fetch_all(conn, "legacy_schedule_triggers")]
