"""API tokens: stored as a SHA-256 of their secret part, never in clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from db.queries import execute, fetch_all, fetch_one
from db.types import Conn, Row


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's record: everything but its secret."""

    id: UUID
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: Row) -> TokenInfo:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token's record with the SHA-256 of its secret, for authentication only."""

    info: TokenInfo
    secret_sha256: bytes


async def insert(
    conn: Conn, token_id: UUID, tenant: str, name: str, secret_sha256: bytes
) -> TokenInfo:
    row = await fetch_one(
        conn,
        "token_insert",
        {"id": token_id, "tenant": tenant, "name": name, "secret_sha256": secret_sha256},
    )
    assert row is not None
    return TokenInfo.from_row(row)


async def get(conn: Conn, token_id: UUID) -> StoredToken | None:
    row = await fetch_one(conn, "token_get", {"id": token_id})
    return StoredToken(TokenInfo.from_row(row), bytes(row["secret_sha256"])) if row else None


async def list_all(conn: Conn, tenant: str | None = None) -> list[TokenInfo]:
    return [TokenInfo.from_row(r) for r in await fetch_all(conn, "token_list", {"tenant": tenant})]


async def revoke(conn: Conn, token_id: UUID, now: datetime | None = None) -> TokenInfo | None:
    """Revoke at `now` (the database clock when None); a token revoked already keeps its
    instant. None when no token has this id."""
    row = await fetch_one(conn, "token_revoke", {"id": token_id, "now": now})
    return TokenInfo.from_row(row) if row else None


async def touch(conn: Conn, token_id: UUID, now: datetime | None = None) -> None:
    """Record a use at `now` (the database clock when None), at most once a minute."""
    await execute(conn, "token_touch", {"id": token_id, "now": now})
