"""Tenants' signing keys (deliveries to a schedule's own targetUrl are signed with them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.queries import execute, fetch_all
from db.types import Conn


@dataclass(frozen=True, slots=True)
class SigningKey:
    secret: str
    created_at: datetime
    expires_at: datetime | None  # None: the current key


async def insert_if_none(conn: Conn, tenant: str, secret: str) -> None:
    await execute(conn, "tenant_key_insert_if_none", {"tenant": tenant, "secret": secret})


async def rotate(
    conn: Conn, tenant: str, secret: str, grace_seconds: float, now: datetime | None = None
) -> None:
    """Retire the tenant's valid keys `grace_seconds` after `now` (the database clock when
    None) and make `secret` the current key, in one transaction."""
    async with conn.transaction():
        await execute(
            conn,
            "tenant_key_retire",
            {"tenant": tenant, "grace_seconds": grace_seconds, "now": now},
        )
        await execute(conn, "tenant_key_insert", {"tenant": tenant, "secret": secret})


async def list_valid(conn: Conn, tenant: str, now: datetime | None = None) -> list[SigningKey]:
    """The keys that sign at `now` (the database clock when None), the current one first."""
    rows = await fetch_all(conn, "tenant_key_list", {"tenant": tenant, "now": now})
    return [SigningKey(r["secret"], r["created_at"], r["expires_at"]) for r in rows]
