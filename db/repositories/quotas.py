"""The per-tenant quotas' only door to SQL. Every function runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from app.domain.quotas import RunUsage, elapsed_in_minute, minute_of
from db.queries import execute, fetch_all
from db.types import Conn


async def lock_schedules(conn: Conn, tenant: str) -> None:
    """Hold the tenant's schedule-creation lock until the transaction ends."""
    await execute(conn, "quota_schedules_lock", {"tenant": tenant})


async def schedules_stored(conn: Conn, tenant: str) -> int:
    rows = await fetch_all(conn, "quota_schedules_stored", {"tenant": tenant})
    return int(rows[0]["stored"])


async def run_usage(conn: Conn, tenant: str, now: datetime) -> RunUsage:
    """The tenant's runs in the window that ends at `now` (read without a lock)."""
    rows = await fetch_all(conn, "quota_run_usage", {"tenant": tenant, "minute": minute_of(now)})
    return RunUsage(int(rows[0]["previous"]), int(rows[0]["current"]), elapsed_in_minute(now))


async def add_runs(conn: Conn, runs: Mapping[str, int], now: datetime) -> dict[str, int]:
    """Charge `runs` (per tenant) to the minute of `now`; returns each tenant's new total for
    that minute. The buckets stay row-locked until the transaction ends."""
    charged = {tenant: n for tenant, n in sorted(runs.items()) if n > 0}
    if not charged:
        return {}
    rows = await fetch_all(
        conn,
        "quota_run_usage_add",
        {"tenants": list(charged), "runs": list(charged.values()), "minute": minute_of(now)},
    )
    return {r["tenant"]: int(r["runs"]) for r in rows}


async def runs_in_flight(conn: Conn, tenant: str, count_limit: int) -> int:
    """The tenant's running runs, counted up to `count_limit`."""
    rows = await fetch_all(
        conn, "quota_runs_in_flight", {"tenant": tenant, "count_limit": count_limit}
    )
    return int(rows[0]["running"])


async def waiting_by_tenant(conn: Conn, ids: Sequence[UUID]) -> dict[str, list[UUID]]:
    """Per tenant with waiting runs in `ids`, those runs. No lock."""
    rows = await fetch_all(conn, "quota_in_flight_waiting", {"ids": list(ids)})
    return {r["tenant"]: list(r["ids"]) for r in rows}


async def share_in_flight(conn: Conn, tenants: Sequence[str]) -> list[str]:
    """The `tenants` whose in-flight lock this transaction now holds shared, until it ends;
    never waits (a tenant whose lock a locked start holds is left out)."""
    rows = await fetch_all(conn, "quota_in_flight_share", {"tenants": list(tenants)})
    return [r["tenant"] for r in rows]


async def hold_over_in_flight(
    conn: Conn, ids: Sequence[UUID], cap: int, now: datetime | None = None
) -> tuple[list[tuple[UUID, bool]], datetime | None]:
    """Lock the batch's tenants' in-flight counts until the transaction ends, and return the
    runs that must wait (their tenant is at `cap`), each with whether its tenant had no room
    at all, and `now` (the database clock when None)."""
    await execute(conn, "quota_in_flight_lock", {"ids": list(ids)})
    rows = await fetch_all(conn, "quota_in_flight_held", {"ids": list(ids), "cap": cap, "now": now})
    return [(r["id"], bool(r["full"])) for r in rows], (rows[0]["db_now"] if rows else None)
