"""API tokens: created by the CLI, shown once, stored hashed, revocable (SPEC §7).

A token reads `wfs_<token id, 32 hex><secret>`. The id finds the row; the secret's SHA-256 is
compared with `hmac.compare_digest`, so the check takes the same time whatever matches. Tokens
carry 256 bits of randomness, so a fast hash is enough (no password-style stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from app.errors import NotFound, Unauthorized, ValidationFailed
from app.services import keys
from db.repositories import tokens as repo

PREFIX = "wfs_"
_ID_HEX = 32


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: UUID
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _info(row: dict[str, Any]) -> TokenInfo:
    return TokenInfo(**{k: row[k] for k in TokenInfo.__slots__})


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _split(token: str) -> tuple[UUID, str] | None:
    if not token.startswith(PREFIX):
        return None
    body = token[len(PREFIX) :]
    try:
        token_id = UUID(hex=body[:_ID_HEX])
    except ValueError:
        return None
    secret = body[_ID_HEX:]
    return (token_id, secret) if secret else None


async def create(conn: repo.Conn, tenant: str, name: str) -> tuple[str, TokenInfo]:
    """Store a new token for `tenant`; return the token (shown once) and its record."""
    tenant, name = tenant.strip(), name.strip()
    if not tenant or len(tenant) > 100:
        raise ValidationFailed("tenant: must be 1 to 100 characters", field="tenant")
    if not name or len(name) > 200:
        raise ValidationFailed("name: must be 1 to 200 characters", field="name")
    token_id, secret = uuid4(), secrets.token_urlsafe(32)
    async with conn.transaction():
        row = await repo.insert(conn, token_id, tenant, name, _digest(secret))
        # A tenant exists from its first token on: its signing key is created with it.
        await keys.ensure(conn, tenant)
    return f"{PREFIX}{token_id.hex}{secret}", _info(row)


async def authenticate(conn: repo.Conn, token: str) -> str:
    """The tenant of a valid, unrevoked token; Unauthorized otherwise (same answer for all)."""
    parts = _split(token)
    if parts is None:
        raise Unauthorized()
    token_id, secret = parts
    async with conn.transaction():
        row = await repo.get(conn, token_id)
        expected = row["secret_sha256"] if row else _digest("")
        if not hmac.compare_digest(bytes(expected), _digest(secret)) or row is None:
            raise Unauthorized()
        if row["revoked_at"] is not None:
            raise Unauthorized("this token was revoked: ask for a new one")
        await repo.touch(conn, token_id)
    return str(row["tenant"])


async def list_tokens(conn: repo.Conn, tenant: str | None = None) -> list[TokenInfo]:
    return [_info(row) for row in await repo.list_all(conn, tenant)]


async def revoke(conn: repo.Conn, token_id: UUID) -> TokenInfo:
    async with conn.transaction():
        row = await repo.revoke(conn, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    return _info(row)
