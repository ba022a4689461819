"""Tenants' signing keys (H5): deliveries to a schedule's own targetUrl are signed with its
tenant's key, never with the deployment secret, so a tenant that reads its own requests learns
nothing that lets it sign for anyone else.

A key is a Standard Webhooks secret, `whsec_<base64 of 32 random bytes>`. Each tenant gets one
with its first API token; `scheduler key rotate` makes a new one current and lets the previous
keys sign for a grace period, during which every delivery carries both signatures.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from app.errors import ValidationFailed
from db.repositories import keys as repo
from db.repositories.keys import SigningKey as SigningKey  # re-exported for the CLI
from db.types import Conn

DEFAULT_GRACE_SECONDS = 24 * 3600.0
"""How long a rotated-out key still signs: time for the tenant to deploy the new key."""
MAX_GRACE_SECONDS = 30 * 24 * 3600.0


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _tenant(tenant: str) -> str:
    tenant = tenant.strip()
    if not tenant or len(tenant) > 100:
        raise ValidationFailed("tenant: must be 1 to 100 characters", field="tenant")
    return tenant


async def ensure(conn: Conn, tenant: str) -> None:
    """Give `tenant` a key if it has none (in the caller's transaction)."""
    await repo.insert_if_none(conn, _tenant(tenant), new_secret())


async def valid_keys(conn: Conn, tenant: str, now: datetime | None = None) -> list[SigningKey]:
    """The keys that sign at `now` (the database clock when None), the current one first
    (more than one during a rotation)."""
    return await repo.list_valid(conn, _tenant(tenant), now)


async def rotate(
    conn: Conn,
    tenant: str,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: datetime | None = None,
) -> list[SigningKey]:
    """Make a new key current; the previous ones keep signing for `grace_seconds` (0: stop at
    once), counted from `now` (the database clock when None). Returns the valid keys, the new
    one first."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValidationFailed(
            f"grace: must be between 0 and {MAX_GRACE_SECONDS:.0f} seconds", field="grace"
        )
    await repo.rotate(conn, _tenant(tenant), new_secret(), grace_seconds, now)
    return await valid_keys(conn, tenant, now)
