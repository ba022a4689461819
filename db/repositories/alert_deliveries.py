"""The alerts outbox (db/queries/alert_deliveries.sql): rows written with the incidents they
announce, and claimed and recorded by the senders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.types.json import Jsonb

from app.domain.alerts import ClaimedDelivery, DeliveryStatus
from app.domain.incidents import Incident
from db.queries import fetch_all, fetch_one
from db.types import Conn, JsonObject


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One announcement, written once per matching channel."""

    incident: Incident
    event_type: str
    payload: JsonObject


async def insert_many(conn: Conn, rows: Sequence[OutboxRow]) -> int:
    """One outbox row per (announcement, matching channel); returns how many."""
    if not rows:
        return 0
    written = await fetch_all(
        conn,
        "alert_delivery_insert_many",
        {
            "incident_ids": [r.incident.id for r in rows],
            "tenants": [r.incident.tenant for r in rows],
            "trigger_ids": [r.incident.trigger_id for r in rows],
            "kinds": [r.incident.kind for r in rows],
            "event_types": [r.event_type for r in rows],
            "payloads": [Jsonb(r.payload) for r in rows],
        },
    )
    return len(written)


async def insert_test(
    conn: Conn, tenant: str, channel_id: UUID, payload: JsonObject, now: datetime | None
) -> UUID:
    row = await fetch_one(
        conn,
        "alert_delivery_insert_test",
        {"tenant": tenant, "channel_id": channel_id, "payload": Jsonb(payload), "now": now},
    )
    assert row is not None
    return UUID(str(row["id"]))


async def claim_due(
    conn: Conn, *, limit: int, lease_seconds: float, now: datetime | None
) -> list[ClaimedDelivery]:
    rows = await fetch_all(
        conn,
        "alert_delivery_claim_due",
        {"limit": limit, "lease_seconds": lease_seconds, "now": now},
    )
    return [ClaimedDelivery.from_row(row) for row in rows]


async def record(
    conn: Conn,
    delivery: ClaimedDelivery,
    *,
    status: DeliveryStatus,
    error: str | None,
    delay_seconds: float | None,
    now: datetime | None,
) -> bool:
    """Whether the claim was still current (False: another sender has claimed it since)."""
    row = await fetch_one(
        conn,
        "alert_delivery_record",
        {
            "id": delivery.id,
            "attempts": delivery.attempts,
            "status": status,
            "error": error,
            "delay_seconds": delay_seconds,
            "now": now,
        },
    )
    return row is not None


@dataclass(frozen=True, slots=True)
class OutboxGauges:
    pending: int  # counted up to the cap
    overdue_seconds: float  # > 0: the most overdue pending delivery is that late


async def gauges(conn: Conn, *, cap: int, now: datetime | None = None) -> OutboxGauges:
    row = await fetch_one(conn, "alert_delivery_metrics", {"cap": cap, "now": now})
    assert row is not None
    return OutboxGauges(int(row["pending"]), max(0.0, float(row["overdue_seconds"])))
