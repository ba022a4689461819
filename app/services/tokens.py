"""API tokens: created by the CLI, shown once, stored hashed, revocable (SPEC §7).

A token reads `wfs_<token id, 32 hex><secret>`. The id finds the row; the secret's SHA-256 is
compared with `hmac.compare_digest`, so the check takes the same time whatever matches. Tokens
carry 256 bits of randomness, so a fast hash is enough (no password-style stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from uuid import UUID, uuid4

from app.errors import NotFound, Unauthorized, ValidationFailed
from app.services import keys
from db.repositories import tokens as repo
from db.repositories.tokens import TokenInfo
from db.types import Conn

PREFIX = "wfs_"
_ID_HEX = 32


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


async def create(conn: Conn, tenant: str, name: str) -> tuple[str, TokenInfo]:
    """Store a new token for `tenant`; return the token (shown once) and its record."""
    tenant, name = tenant.strip(), name.strip()
    if not tenant or len(tenant) > 100:
        raise ValidationFailed("tenant: must be 1 to 100 characters", field="tenant")
    if not name or len(name) > 200:
        raise ValidationFailed("name: must be 1 to 200 characters", field="name")
    token_id, secret = uuid4(), secrets.token_urlsafe(32)
    async with conn.transaction():
        info = await repo.insert(conn, token_id, tenant, name, _digest(secret))
        # A tenant exists from its first token on: its signing key is created with it.
        await keys.ensure(conn, tenant)
    return f"{PREFIX}{token_id.hex}{secret}", info


async def authenticate(conn: Conn, token: str, now: datetime | None = None) -> str:
    """The tenant of a valid, unrevoked token; Unauthorized otherwise (same answer for all).
    Records the use at `now` (the database clock when None)."""
    parts = _split(token)
    if parts is None:
        raise Unauthorized()
    token_id, secret = parts
    async with conn.transaction():
        stored = await repo.get(conn, token_id)
        expected = stored.secret_sha256 if stored else _digest("")
        if not hmac.compare_digest(expected, _digest(secret)) or stored is None:
            raise Unauthorized()
        if stored.info.revoked_at is not None:
            raise Unauthorized("this token was revoked: ask for a new one")
        await repo.touch(conn, token_id, now)
    return stored.info.tenant


async def list_tokens(conn: Conn, tenant: str | None = None) -> list[TokenInfo]:
    return await repo.list_all(conn, tenant)


async def revoke(conn: Conn, token_id: UUID, now: datetime | None = None) -> TokenInfo:
    """Revoke at `now` (the database clock when None); NotFound for an unknown id."""
    async with conn.transaction():
        info = await repo.revoke(conn, token_id, now)
    if info is None:
        raise NotFound(f"no token with id {token_id}")
    return info
