"""API tokens: stored as a SHA-256 of their secret part, never in clear."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from db.queries import query

Conn = AsyncConnection[dict[str, Any]]


async def insert(
    conn: Conn, token_id: UUID, tenant: str, name: str, secret_sha256: bytes
) -> dict[str, Any]:
    cursor = await conn.execute(
        query("token_insert"),
        {"id": token_id, "tenant": tenant, "name": name, "secret_sha256": secret_sha256},
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def get(conn: Conn, token_id: UUID) -> dict[str, Any] | None:
    cursor = await conn.execute(query("token_get"), {"id": token_id})
    return await cursor.fetchone()


async def list_all(conn: Conn, tenant: str | None = None) -> list[dict[str, Any]]:
    cursor = await conn.execute(query("token_list"), {"tenant": tenant})
    return await cursor.fetchall()


async def revoke(conn: Conn, token_id: UUID) -> dict[str, Any] | None:
    cursor = await conn.execute(query("token_revoke"), {"id": token_id})
    return await cursor.fetchone()


async def touch(conn: Conn, token_id: UUID) -> None:
    await conn.execute(query("token_touch"), {"id": token_id})
