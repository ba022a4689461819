"""Alert channels: the door to db/queries/alert_channels.sql. Every call is tenant-scoped."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from app.domain.alerts import Channel, ChannelFields
from db.queries import fetch_all, fetch_one
from db.types import Conn, Params


def _params(tenant: str, fields: ChannelFields) -> dict[str, object]:
    return {
        "tenant": tenant,
        "name": fields.name,
        "kind": fields.kind,
        "url": fields.url,
        "address": fields.address,
        "events": list(fields.events),
        "schedule_ids": None if fields.schedule_ids is None else list(fields.schedule_ids),
    }


async def _one(conn: Conn, name: str, params: Params) -> Channel | None:
    row = await fetch_one(conn, name, params)
    return None if row is None else Channel.from_row(row)


async def insert(conn: Conn, tenant: str, fields: ChannelFields, secret: str | None) -> Channel:
    created = await _one(
        conn, "alert_channel_insert", {**_params(tenant, fields), "secret": secret}
    )
    assert created is not None
    return created


async def count(conn: Conn, tenant: str) -> int:
    row = await fetch_one(conn, "alert_channel_count", {"tenant": tenant})
    return int(row["channels"]) if row else 0


async def list_all(conn: Conn, tenant: str) -> list[Channel]:
    return [
        Channel.from_row(r) for r in await fetch_all(conn, "alert_channel_list", {"tenant": tenant})
    ]


async def get(conn: Conn, tenant: str, channel_id: UUID, *, lock: bool = False) -> Channel | None:
    name = "alert_channel_lock" if lock else "alert_channel_get"
    return await _one(conn, name, {"tenant": tenant, "id": channel_id})


async def update(
    conn: Conn, tenant: str, channel_id: UUID, fields: ChannelFields
) -> Channel | None:
    return await _one(conn, "alert_channel_update", {**_params(tenant, fields), "id": channel_id})


async def delete(conn: Conn, tenant: str, channel_id: UUID) -> bool:
    return (
        await fetch_one(conn, "alert_channel_delete", {"tenant": tenant, "id": channel_id})
        is not None
    )


async def unknown_schedules(conn: Conn, tenant: str, ids: Sequence[UUID]) -> list[UUID]:
    """The ids among `ids` that are not schedules of `tenant`."""
    rows = await fetch_all(
        conn, "alert_channel_unknown_schedules", {"tenant": tenant, "ids": list(ids)}
    )
    return [row["id"] for row in rows]
