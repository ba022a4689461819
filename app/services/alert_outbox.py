"""The alerts outbox as the senders use it (worker/alerts.py): claim, then record.

Each call is its own short transaction, and no transaction is open while a delivery is being
sent: `claim` leases due deliveries (it moves their next attempt past the send and counts the
attempt), the caller sends them, `delivered` / `failed_attempt` record what came of it. A
sender that dies between the two leaves its deliveries to be claimed again when the lease runs
out: at least once, with the same id (the receivers' `webhook-id`) every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from app.domain.alerts import ClaimedDelivery, NextAttempt, next_attempt
from db.repositories import alert_deliveries as repo
from db.types import Conn


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float
    give_up_after_seconds: float


async def claim(
    conn: Conn, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[ClaimedDelivery]:
    """Up to `limit` due pending deliveries, oldest first, leased for `lease_seconds`."""
    async with conn.transaction():
        return await repo.claim_due(conn, limit=limit, lease_seconds=lease_seconds, now=now)


async def delivered(conn: Conn, delivery: ClaimedDelivery, now: datetime | None = None) -> bool:
    """Mark it delivered; False when the claim is no longer current (sent twice: harmless)."""
    async with conn.transaction():
        return await repo.record(
            conn, delivery, status="delivered", error=None, delay_seconds=None, now=now
        )


async def failed_attempt(
    conn: Conn,
    delivery: ClaimedDelivery,
    *,
    error: str,
    retryable: bool,
    policy: RetryPolicy,
    now: datetime | None = None,
) -> NextAttempt:
    """Schedule the next attempt after a backoff, or mark the delivery failed for good."""
    decision = next_attempt(
        error=error,
        retryable=retryable,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        now=delivery.claimed_at,
        base_seconds=policy.base_seconds,
        give_up_after_seconds=policy.give_up_after_seconds,
        random_unit=random.random(),  # noqa: S311 - jitter, not a secret
    )
    delay = None
    if decision.at is not None:
        delay = max((decision.at - delivery.claimed_at).total_seconds(), 0.0)
    async with conn.transaction():
        await repo.record(
            conn,
            delivery,
            status="pending" if decision.status == "retry" else "failed",
            error=decision.error,
            delay_seconds=delay,
            now=now,
        )
    return decision
