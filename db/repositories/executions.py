"""The executions aggregate's only door to SQL (and the dispatcher's claim of schedules).

Bulk statements take parallel arrays (unnest), so a pass over 10,000 due schedules is a handful
of round trips, not 10,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.domain.execution import Execution
from app.domain.schedule import Schedule
from db.queries import query
from db.types import Conn

_SCHEDULE_FIELDS = frozenset(Schedule.__dataclass_fields__)


async def _all(conn: Conn, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchall() if cursor.description else []


@dataclass(frozen=True, slots=True)
class Crowd:
    """The slots of one second [start, end), dispatched from `lead` seconds before they are
    due, however far ahead that is (the claim takes any other schedule only within its short
    lookahead)."""

    start: datetime
    end: datetime
    lead: float


async def claim_due(
    conn: Conn,
    limit: int,
    now: datetime | None = None,
    lookahead: float = 0.0,
    crowd: Crowd | None = None,
) -> list[tuple[Schedule, datetime, int, int]]:
    """Lock up to `limit` schedules due within `lookahead` seconds, or in the `crowd`'s second
    and within its lead: (schedule, db now, unfinished runs, buffered runs)."""
    rows = await _all(
        conn,
        "schedule_claim_due",
        {
            "limit": limit,
            "now": now,
            "lookahead": lookahead,
            "crowd_from": crowd.start if crowd else None,
            "crowd_until": crowd.end if crowd else None,
            "crowd_lookahead": crowd.lead if crowd else None,
        },
    )
    return [
        (
            Schedule(**{k: v for k, v in row.items() if k in _SCHEDULE_FIELDS}),
            row["db_now"],
            int(row["active_runs"]),
            int(row["buffered_runs"]),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class NextFire:
    """The earliest fire instant of any active schedule (None: none active), the database's
    now (or the `now` given), how many schedules are due in the second from that instant (at
    most the count limit), whether one of the schedules at that instant can be dispatched
    ahead of it (false: each waits for an unfinished run, see schedule_next_fire), and how
    many worker processes' dispatchers are alive to share it (at least 1)."""

    at: datetime | None
    now: datetime
    due_in_second: int
    goes_ahead: bool
    dispatchers: int = 1
    planned_rows: int = 0  # the planner's estimate of the schedules stored (-1: never analyzed)


async def next_fire(conn: Conn, count_limit: int, now: datetime | None = None) -> NextFire:
    rows = await _all(conn, "schedule_next_fire", {"count_limit": count_limit, "now": now})
    row = rows[0]
    return NextFire(
        row["next_fire_at"],
        row["db_now"],
        int(row["due_in_second"]),
        bool(row["first_goes_ahead"]),
        int(row["dispatchers"]),
        int(row["planned_rows"]),
    )


async def analyze_schedules(conn: Conn) -> None:
    await conn.execute(query("schedule_analyze"))


async def advance_schedules(conn: Conn, updates: Sequence[dict[str, Any]]) -> None:
    if not updates:
        return
    await conn.execute(
        query("schedule_advance_many"),
        {
            "ids": [u["id"] for u in updates],
            "states": [u["state"] for u in updates],
            "next_run_ats": [u["next_run_at"] for u in updates],
            "next_fire_ats": [u["next_fire_at"] for u in updates],
            "remaining_runs": [u["remaining_runs"] for u in updates],
            "missed_uncounted": [u["missed_uncounted"] for u in updates],
        },
    )


async def pause_unusable(conn: Conn, notes: Sequence[tuple[UUID, str]]) -> None:
    """Pause schedules the dispatcher cannot plan, each with its note."""
    if not notes:
        return
    await conn.execute(
        query("schedule_pause_unusable"),
        {"ids": [i for i, _ in notes], "notes": [n for _, n in notes]},
    )


async def insert_many(
    conn: Conn, rows: Sequence[dict[str, Any]], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Insert execution rows; a slot that already has one is skipped. Returns what was new.

    A run to be sent names its schedule's current spec (input, target, retry limits), read
    from the schedule row in the same statement; callers pass no input. A row of status
    `running` is written as its first attempt started at `now` (the database clock), or at
    its fire instant if that is later."""
    if not rows:
        return []
    return await _all(
        conn,
        "execution_insert_many",
        {
            "ids": [r.get("id") for r in rows],
            "job_ids": [r.get("job_id") for r in rows],
            "trigger_ids": [r["trigger_id"] for r in rows],
            "workflow_ids": [r["workflow_id"] for r in rows],
            "tenants": [r["tenant"] for r in rows],
            "scheduled_ats": [r["scheduled_at"] for r in rows],
            "fire_ats": [r.get("fire_at") for r in rows],
            "statuses": [r["status"] for r in rows],
            "triggers": [r["trigger"] for r in rows],
            "errors": [r.get("error") for r in rows],
            "buffereds": [r.get("buffered", False) for r in rows],
            "now": now,
        },
    )


async def set_jobs(conn: Conn, pairs: Sequence[tuple[UUID, int]]) -> None:
    if pairs:
        await conn.execute(
            query("execution_set_jobs"),
            {"ids": [p[0] for p in pairs], "job_ids": [p[1] for p in pairs]},
        )


KEYS_HINT = timedelta(days=1)
"""A batch's slots are nearly always within this of now: their ids are looked for in those
partitions first (execution_keys_near), then everywhere for the rest."""


async def keys(
    conn: Conn, ids: Sequence[UUID], now: datetime | None = None
) -> dict[UUID, datetime]:
    """The slot (`scheduled_at`, the partition key) of each run of `ids` that exists.

    Only a hint of the current instant is needed: the wall clock when `now` is not given
    (a wrong hint costs a second statement, never a run)."""
    if not ids:
        return {}
    around = now or datetime.now(UTC)
    near = await _all(
        conn,
        "execution_keys_near",
        {"ids": list(ids), "from": around - KEYS_HINT, "until": around + KEYS_HINT},
    )
    found = {r["id"]: r["scheduled_at"] for r in near}
    if missing := [i for i in ids if i not in found]:
        anywhere = await _all(conn, "execution_keys_anywhere", {"ids": missing})
        found.update((r["id"], r["scheduled_at"]) for r in anywhere)
    return found


def _key_params(slots: dict[UUID, datetime]) -> dict[str, Any]:
    return {"ids": list(slots), "scheduled_ats": sorted(set(slots.values()))}


async def start_attempts(
    conn: Conn, slots: dict[UUID, datetime], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Start the runs named by their full keys (`keys`: id -> scheduled_at)."""
    if not slots:
        return []
    return await _all(conn, "execution_start_attempts", _key_params(slots) | {"now": now})


async def read_started(
    conn: Conn, slots: dict[UUID, datetime], now: datetime | None = None
) -> list[dict[str, Any]]:
    """What `start_attempts` returns, for runs inserted already started (no write)."""
    if not slots:
        return []
    return await _all(conn, "execution_read_started", _key_params(slots) | {"now": now})


async def running_by_tenant(conn: Conn, tenants: Sequence[str], count_limit: int) -> dict[str, int]:
    """Each tenant's runs `running`, counted up to `count_limit`. No lock."""
    rows = await _all(
        conn, "execution_running_by_tenant", {"tenants": list(tenants), "count_limit": count_limit}
    )
    return {r["tenant"]: int(r["running"]) for r in rows}


async def cancel_waiting(conn: Conn, tenant: str, trigger_id: UUID) -> None:
    """A deleted schedule's waiting runs end `cancelled` (in the caller's transaction)."""
    await conn.execute(
        query("execution_cancel_waiting"), {"tenant": tenant, "trigger_id": trigger_id}
    )


async def cancel_orphans(conn: Conn, slots: dict[UUID, datetime]) -> list[UUID]:
    """Cancel the runs (full keys) whose schedule is gone."""
    if not slots:
        return []
    rows = await _all(conn, "execution_cancel_orphans", _key_params(slots))
    return [r["id"] for r in rows]


async def finish_many(conn: Conn, outcomes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record outcomes; each names its run by `id` and, so that only its partition is read,
    its slot `scheduled_at` (looked up when missing)."""
    if not outcomes:
        return []
    unknown = [o["id"] for o in outcomes if o.get("scheduled_at") is None]
    slots = await keys(conn, unknown) if unknown else {}
    scheduled_ats = [o.get("scheduled_at") or slots.get(o["id"]) for o in outcomes]
    return await _all(
        conn,
        "execution_finish_many",
        {
            "ids": [o["id"] for o in outcomes],
            "scheduled_ats": scheduled_ats,
            "statuses": [o["status"] for o in outcomes],
            "http_statuses": [o["http_status"] for o in outcomes],
            "errors": [o["error"] for o in outcomes],
            "workflow_run_ids": [o["workflow_run_id"] for o in outcomes],
            "durations": [o["duration_ms"] for o in outcomes],
            "retry_delays": [o["retry_delay_seconds"] for o in outcomes],
            "attempts": [o["attempt"] for o in outcomes],
            "answered_ats": [o["answered_at"] for o in outcomes],
            "completion_timeouts": [o["completion_timeout"] for o in outcomes],
        },
    )


async def record_outcomes(conn: Conn, summaries: Sequence[dict[str, Any]]) -> list[UUID]:
    """Update last run / streak of schedules; returns the ids auto-paused by the streak."""
    if not summaries:
        return []
    # Locks first, in id order: concurrent finishers of overlapping schedules never deadlock.
    await _all(conn, "schedule_lock_many", {"ids": sorted({s["trigger_id"] for s in summaries})})
    rows = await _all(
        conn,
        "schedule_record_outcomes",
        {
            "trigger_ids": [s["trigger_id"] for s in summaries],
            "last_statuses": [s["last_status"] for s in summaries],
            "last_run_ats": [s["last_run_at"] for s in summaries],
            "trailing_failures": [s["trailing_failures"] for s in summaries],
            "resets": [s["reset"] for s in summaries],
        },
    )
    return [r["id"] for r in rows if r["paused"]]


async def release_buffered(conn: Conn, trigger_ids: Sequence[UUID]) -> list[UUID]:
    if not trigger_ids:
        return []
    rows = await _all(conn, "execution_release_buffered", {"trigger_ids": list(trigger_ids)})
    return [r["id"] for r in rows]


async def find_orphans(
    conn: Conn, *, min_age_seconds: float, limit: int
) -> list[tuple[UUID, datetime | None]]:
    rows = await _all(
        conn, "execution_find_orphans", {"min_age_seconds": min_age_seconds, "limit": limit}
    )
    return [(r["id"], r["next_attempt_at"]) for r in rows]


async def find_unreleased_buffered(conn: Conn, limit: int) -> list[UUID]:
    rows = await _all(conn, "execution_find_unreleased_buffered", {"limit": limit})
    return [r["trigger_id"] for r in rows]


async def get(conn: Conn, tenant: str, execution_id: UUID) -> Execution | None:
    rows = await _all(conn, "execution_get", {"id": execution_id, "tenant": tenant})
    return Execution.from_row(rows[0]) if rows else None


async def list_page(
    conn: Conn,
    tenant: str,
    trigger_id: UUID,
    *,
    limit: int,
    before: tuple[datetime, UUID] | None,
    status: str | None,
) -> list[Execution]:
    rows = await _all(
        conn,
        "execution_list",
        {
            "tenant": tenant,
            "trigger_id": trigger_id,
            "limit": limit,
            "status": status,
            "before_scheduled_at": before[0] if before else None,
            "before_id": before[1] if before else None,
        },
    )
    return [Execution.from_row(r) for r in rows]
