"""Tenants' signing keys (deliveries to a schedule's own targetUrl are signed with them)."""

from __future__ import annotations

from typing import Any

from db.queries import query
from db.types import Conn


async def insert_if_none(conn: Conn, tenant: str, secret: str) -> None:
    await conn.execute(query("tenant_key_insert_if_none"), {"tenant": tenant, "secret": secret})


async def rotate(conn: Conn, tenant: str, secret: str, grace_seconds: float) -> None:
    """Retire the tenant's valid keys after `grace_seconds` and make `secret` the current
    key, in one transaction."""
    async with conn.transaction():
        await conn.execute(
            query("tenant_key_retire"), {"tenant": tenant, "grace_seconds": grace_seconds}
        )
        await conn.execute(query("tenant_key_insert"), {"tenant": tenant, "secret": secret})


async def list_valid(conn: Conn, tenant: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(query("tenant_key_list"), {"tenant": tenant})
    return await cursor.fetchall()
