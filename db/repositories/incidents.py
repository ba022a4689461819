"""The incidents aggregate's door to SQL (alert_incidents). Every function runs in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.domain.incidents import Incident, Kind
from db.queries import execute, fetch_all
from db.types import Conn, Params, Row


@dataclass(frozen=True, slots=True)
class NewIncident:
    tenant: str
    trigger_id: UUID
    workflow_id: str
    kind: Kind
    opened_at: datetime
    occurrences: int
    last_execution_id: UUID | None
    summary: str


@dataclass(frozen=True, slots=True)
class LateSlot:
    trigger_id: UUID
    execution_id: UUID | None


def _incident(row: Row) -> Incident:
    return Incident(
        id=row["id"],
        tenant=row["tenant"],
        trigger_id=row["trigger_id"],
        workflow_id=row["workflow_id"],
        kind=row["kind"],
        state=row["state"],
        opened_at=row["opened_at"],
        resolved_at=row["resolved_at"],
        occurrences=row["occurrences"],
        last_execution_id=row["last_execution_id"],
        summary=row["summary"],
        last_announced_at=row["last_announced_at"],
        updated_at=row["updated_at"],
    )


def _pairs(pairs: Sequence[tuple[UUID, str]]) -> Params:
    return {"trigger_ids": [p[0] for p in pairs], "kinds": [p[1] for p in pairs]}


async def lock_open(conn: Conn, pairs: Sequence[tuple[UUID, str]]) -> list[Incident]:
    if not pairs:
        return []
    return [_incident(r) for r in await fetch_all(conn, "incident_lock_open", _pairs(pairs))]


async def latest_resolved(conn: Conn, pairs: Sequence[tuple[UUID, str]]) -> list[Incident]:
    if not pairs:
        return []
    rows = await fetch_all(conn, "incident_latest_resolved", _pairs(pairs))
    return [_incident(r) for r in rows]


async def write_many(conn: Conn, incidents: Sequence[Incident]) -> None:
    if not incidents:
        return
    await execute(
        conn,
        "incident_write_many",
        {
            "ids": [i.id for i in incidents],
            "states": [i.state for i in incidents],
            "opened_ats": [i.opened_at for i in incidents],
            "resolved_ats": [i.resolved_at for i in incidents],
            "occurrences": [i.occurrences for i in incidents],
            "last_execution_ids": [i.last_execution_id for i in incidents],
            "last_announced_ats": [i.last_announced_at for i in incidents],
            "updated_ats": [i.updated_at for i in incidents],
        },
    )


async def insert_many(conn: Conn, new: Sequence[NewIncident]) -> list[Incident]:
    """Insert new incidents, announced at their opening (last_announced_at = opened_at)."""
    if not new:
        return []
    rows = await fetch_all(
        conn,
        "incident_insert_many",
        {
            "tenants": [n.tenant for n in new],
            "trigger_ids": [n.trigger_id for n in new],
            "workflow_ids": [n.workflow_id for n in new],
            "kinds": [n.kind for n in new],
            "opened_ats": [n.opened_at for n in new],
            "occurrences": [n.occurrences for n in new],
            "last_execution_ids": [n.last_execution_id for n in new],
            "summaries": [n.summary for n in new],
            "last_announced_ats": [n.opened_at for n in new],
        },
    )
    return [_incident(r) for r in rows]


async def insert_stat_deltas(conn: Conn, deltas: Sequence[tuple[Incident, str, int]]) -> None:
    """(incident, metric, value) deltas of /metrics' incident counters (key: the kind)."""
    if not deltas:
        return
    await execute(
        conn,
        "incident_stat_deltas_insert",
        {
            "trigger_ids": [i.trigger_id for i, _, _ in deltas],
            "tenants": [i.tenant for i, _, _ in deltas],
            "metrics": [metric for _, metric, _ in deltas],
            "keys": [i.kind for i, _, _ in deltas],
            "values": [value for _, _, value in deltas],
        },
    )


async def find_late(conn: Conn, now: datetime | None, limit: int) -> list[LateSlot]:
    rows = await fetch_all(conn, "incident_find_late", {"now": now, "limit": limit})
    return [LateSlot(r["trigger_id"], r["execution_id"]) for r in rows]


async def list_open_of_kind(conn: Conn, kind: Kind, limit: int) -> list[Incident]:
    rows = await fetch_all(conn, "incident_list_open_of_kind", {"kind": kind, "limit": limit})
    return [_incident(r) for r in rows]


async def lock_unannounced(
    conn: Conn, now: datetime | None, min_interval_seconds: float, limit: int
) -> list[Incident]:
    rows = await fetch_all(
        conn,
        "incident_lock_unannounced",
        {"now": now, "min_interval": min_interval_seconds, "limit": limit},
    )
    return [_incident(r) for r in rows]


async def try_watch_lock(conn: Conn) -> bool:
    """The watcher's turn (transaction-scoped), with a bounded wait for row locks."""
    rows = await fetch_all(conn, "incident_watch_lock", {})
    if rows[0]["taken"]:
        await execute(conn, "incident_watch_lock_timeout")
    return bool(rows[0]["taken"])


async def list_page(
    conn: Conn,
    tenant: str,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    state: str | None,
    trigger_id: UUID | None,
) -> list[Incident]:
    rows = await fetch_all(
        conn,
        "incident_list",
        {
            "tenant": tenant,
            "limit": limit,
            "state": state,
            "trigger_id": trigger_id,
            "after_opened_at": after[0] if after else None,
            "after_id": after[1] if after else None,
        },
    )
    return [_incident(r) for r in rows]


async def get(conn: Conn, tenant: str, incident_id: UUID) -> Incident | None:
    rows = await fetch_all(conn, "incident_get", {"id": incident_id, "tenant": tenant})
    return _incident(rows[0]) if rows else None


async def list_admin(
    conn: Conn, tenant: str | None, state: str | None, limit: int
) -> list[Incident]:
    rows = await fetch_all(
        conn, "incident_list_admin", {"tenant": tenant, "state": state, "limit": limit}
    )
    return [_incident(r) for r in rows]


async def count_open(conn: Conn, tenant: str) -> int:
    rows = await fetch_all(conn, "incident_count_open", {"tenant": tenant})
    return int(rows[0]["open"])
