"""The schedules aggregate's only door to SQL. Every function runs in the caller's transaction."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import AsyncCursor
from psycopg.rows import RowMaker
from psycopg.types.json import Jsonb

from app.domain.schedule import WRITABLE_FIELDS, Schedule
from db.queries import fetch_all, fetch_one, query
from db.types import Conn, Row

_SCHEDULE_FIELDS = tuple(Schedule.__dataclass_fields__)  # in the order of its __init__


def _from_row(row: Row) -> Schedule:
    """The row's `Schedule`, from its known columns: a column a later revision adds is not an
    error for a process of this version still running while it is applied (a rolling
    upgrade); the claim's computed columns are left out the same way. Positional, because
    the claim builds one per due slot: 6.4 µs a row, 8.9 with keywords."""
    return Schedule(*[row[name] for name in _SCHEDULE_FIELDS])


def _by_state(rows: list[Row]) -> dict[str, int]:
    return {r["state"]: int(r["n"]) for r in rows}


def _params(schedule: Schedule, now: datetime) -> dict[str, object]:
    params = {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule)}
    params["input"] = Jsonb(schedule.input)
    params["now"] = now
    return params


async def insert(conn: Conn, schedule: Schedule, now: datetime) -> Schedule | None:
    """Insert; None when the id is already taken."""
    row = await fetch_one(conn, "schedule_insert", _params(schedule, now))
    return _from_row(row) if row else None


async def get(conn: Conn, tenant: str, schedule_id: UUID) -> Schedule | None:
    row = await fetch_one(conn, "schedule_get", {"id": schedule_id, "tenant": tenant})
    return _from_row(row) if row else None


async def get_for_update(conn: Conn, tenant: str, schedule_id: UUID) -> Schedule | None:
    """The tenant's schedule, locked until the transaction ends; None (and nothing locked) when
    the tenant has no schedule with this id, whoever else may have one."""
    row = await fetch_one(conn, "schedule_get_for_update", {"id": schedule_id, "tenant": tenant})
    return _from_row(row) if row else None


async def id_taken(conn: Conn, schedule_id: UUID) -> bool:
    """Whether a schedule of any tenant has this id (no lock taken)."""
    row = await fetch_one(conn, "schedule_id_taken", {"id": schedule_id})
    return bool(row and row["taken"])


async def update(conn: Conn, schedule: Schedule, now: datetime) -> Schedule | None:
    """Write `schedule` if its `version` is still the stored one; None otherwise."""
    row = await fetch_one(conn, "schedule_update", _params(schedule, now))
    return _from_row(row) if row else None


async def delete(conn: Conn, tenant: str, schedule_id: UUID) -> bool:
    return (
        await fetch_one(conn, "schedule_delete", {"id": schedule_id, "tenant": tenant}) is not None
    )


async def list_page(
    conn: Conn,
    tenant: str,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None = None,
    workflow_id: str | None = None,
    state: str | None = None,
) -> list[Schedule]:
    rows = await fetch_all(
        conn,
        "schedule_list",
        {
            "tenant": tenant,
            "limit": limit,
            "after_created_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "workflow_id": workflow_id,
            "state": state,
        },
    )
    return [_from_row(row) for row in rows]


async def list_admin(conn: Conn, tenant: str | None, limit: int) -> list[Schedule]:
    rows = await fetch_all(conn, "schedule_list_admin", {"tenant": tenant, "limit": limit})
    return [_from_row(row) for row in rows]


async def get_any(conn: Conn, schedule_id: UUID) -> Schedule | None:
    row = await fetch_one(conn, "schedule_get_any", {"id": schedule_id})
    return _from_row(row) if row else None


async def counts_by_state(conn: Conn, tenant: str) -> dict[str, int]:
    """The tenant's schedules by state (states without a schedule are absent)."""
    return _by_state(await fetch_all(conn, "schedule_counts_by_state", {"tenant": tenant}))


# /metrics' counts: each bounded, as its query's comment says (security review M5).


async def due_backlog(conn: Conn, cap: int, now: datetime | None = None) -> int:
    """Active schedules past their fire instant by over a second, counted up to `cap`."""
    row = await fetch_one(conn, "schedule_due_backlog", {"cap": cap, "now": now})
    return int(row["n"]) if row else 0


async def table_bytes(conn: Conn) -> int:
    """The size of the table's main fork: whether counts_all_by_state is cheap."""
    row = await fetch_one(conn, "schedule_table_bytes")
    return int(row["bytes"]) if row else 0


async def counts_all_by_state(conn: Conn) -> dict[str, int]:
    """Every tenant's schedules by state, exact, by a scan of the table."""
    return _by_state(await fetch_all(conn, "schedule_counts_all_by_state"))


async def counts_all_by_state_estimate(conn: Conn) -> dict[str, int]:
    """The planner's estimates, without reading the table (empty before its first ANALYZE)."""
    return _by_state(await fetch_all(conn, "schedule_counts_all_by_state_estimate"))


# Incidents (app/services/incidents.py) lock the schedules they are about.


@dataclass(frozen=True, slots=True)
class ScheduleRef:
    """What a new incident copies from its schedule."""

    id: UUID
    tenant: str
    workflow_id: str
    late_after_seconds: int


async def lock_for_incidents(conn: Conn, ids: Sequence[UUID]) -> dict[UUID, ScheduleRef]:
    """The schedules among `ids`, locked in id order until the transaction ends, with what an
    incident opened for them copies (ids of no schedule are absent)."""
    rows = await fetch_all(conn, "schedule_lock_for_incidents", {"ids": sorted(set(ids))})
    return {r["id"]: ScheduleRef(**r) for r in rows}


async def try_lock_for_incidents(conn: Conn, ids: Sequence[UUID]) -> set[UUID]:
    """The ids among `ids` whose schedules this transaction could lock without waiting."""
    rows = await fetch_all(conn, "schedule_try_lock_for_incidents", {"ids": sorted(set(ids))})
    return {r["id"] for r in rows}


# Batches (POST /api/schedules/batch, `scheduler import`): insert, get_for_update, update, for
# many rows.

_INSERT_MANY_ARRAYS = ("id", "tenant", *WRITABLE_FIELDS, "state", "next_run_at", "next_fire_at")
"""The columns schedule_insert_many takes as arrays (one element per row): a new schedule's
identity, its writable fields, its state and first fire. The statement names each parameter,
so their order here is free."""


async def get_many_for_update(
    conn: Conn, tenant: str, schedule_ids: Sequence[UUID]
) -> list[Schedule]:
    """The tenant's schedules among `schedule_ids`, locked (in id order) until the transaction
    ends; ids of no schedule of the tenant are absent, and nothing of theirs is locked."""
    cursor = await conn.execute(
        query("schedule_get_many_for_update"),
        {"tenant": tenant, "ids": sorted(set(schedule_ids))},
    )
    return [_from_row(row) for row in await cursor.fetchall()]


async def ids_owned_elsewhere(conn: Conn, tenant: str, schedule_ids: Sequence[UUID]) -> set[UUID]:
    """The ids among `schedule_ids` that another tenant owns (no lock taken)."""
    cursor = await conn.execute(
        query("schedule_ids_owned_elsewhere"), {"tenant": tenant, "ids": list(schedule_ids)}
    )
    return {row["id"] for row in await cursor.fetchall()}


async def insert_many(conn: Conn, schedules: Sequence[Schedule], now: datetime) -> set[UUID]:
    """Insert in one statement (in id order); returns the ids inserted, without those taken."""
    rows = sorted(schedules, key=lambda s: s.id)
    params: dict[str, object] = {
        name: [getattr(s, name) for s in rows] for name in _INSERT_MANY_ARRAYS
    }
    params["input"] = [Jsonb(s.input) for s in rows]
    params["now"] = now
    cursor = await conn.execute(query("schedule_insert_many"), params)
    return {row["id"] for row in await cursor.fetchall()}


async def update_many(conn: Conn, schedules: Sequence[Schedule], now: datetime) -> int:
    """schedule_update for each of `schedules`, pipelined (one round trip, not one per row);
    returns how many rows were written (a stale `version` writes nothing)."""
    if not schedules:
        return 0
    async with conn.cursor() as cursor:
        await cursor.executemany(query("schedule_update"), [_params(s, now) for s in schedules])
        return cursor.rowcount


# --- The dispatcher's statements on schedules ----------------------------------------------
# The firing path's side of this aggregate: the claim of due schedules, when to wake up next,
# the advance to the next slot after a pass, and what runs' ends change (last status, the
# failure streak, pauseAfterFailures). Their SQL is the matching section at the end of
# db/queries/schedules.sql. Bulk statements take parallel arrays (unnest): one round trip for
# a whole pass. The rows built once per claimed schedule are NamedTuples (immutable, typed,
# and as cheap to build as a tuple; see db/repositories/executions.py).


async def _firing_rows(conn: Conn, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchall() if cursor.description else []


@dataclasses.dataclass(frozen=True, slots=True)
class Crowd:
    """The slots of one second [start, end), dispatched from `lead` seconds before they are
    due, however far ahead that is (the claim takes any other schedule only within its short
    lookahead)."""

    start: datetime
    end: datetime
    lead: float


class Claimed(NamedTuple):
    """A schedule the dispatcher holds locked to the end of its pass, the database's now at
    the claim, and its runs the overlap policy looks at: unfinished (not buffered) and
    buffered (0 when its policy does not look at them)."""

    schedule: Schedule
    db_now: datetime
    active_runs: int
    buffered_runs: int


async def claim_due(
    conn: Conn,
    limit: int,
    now: datetime | None = None,
    lookahead: float = 0.0,
    crowd: Crowd | None = None,
) -> list[Claimed]:
    """Lock up to `limit` schedules due within `lookahead` seconds, or in the `crowd`'s second
    and within its lead, oldest fire instant first."""
    params = {
        "limit": limit,
        "now": now,
        "lookahead": lookahead,
        "crowd_from": crowd.start if crowd else None,
        "crowd_until": crowd.end if crowd else None,
        "crowd_lookahead": crowd.lead if crowd else None,
    }
    async with conn.cursor(row_factory=_claimed) as cursor:
        await cursor.execute(query("schedule_claim_due"), params)
        return await cursor.fetchall()


def _claimed(cursor: AsyncCursor[Any]) -> RowMaker[Claimed]:
    """Each claimed row made a `Claimed` from its values by position, the positions found
    once per statement: a dict per row (dict_row) and a lookup per field were 6 of the 16 µs a
    claimed row cost the worker (timeit). A column a later revision adds is left out, as in
    `_from_row`."""
    names = [column.name for column in cursor.description or ()]
    schedule_values = operator.itemgetter(*(names.index(name) for name in _SCHEDULE_FIELDS))
    db_now, active, buffered = (names.index(n) for n in ("db_now", "active_runs", "buffered_runs"))

    def claimed(values: Sequence[Any]) -> Claimed:
        return Claimed(
            Schedule(*schedule_values(values)),
            values[db_now],
            int(values[active]),
            int(values[buffered]),
        )

    return claimed


@dataclasses.dataclass(frozen=True, slots=True)
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
    row = (
        await _firing_rows(conn, "schedule_next_fire", {"count_limit": count_limit, "now": now})
    )[0]
    return NextFire(
        row["next_fire_at"],
        row["db_now"],
        int(row["due_in_second"]),
        bool(row["first_goes_ahead"]),
        int(row["dispatchers"]),
        int(row["planned_rows"]),
    )


async def analyze(conn: Conn) -> None:
    await conn.execute(query("schedule_analyze"))


class ScheduleAdvance(NamedTuple):
    """A claimed schedule after its pass (schedule_advance_many): its next slot and state, the
    runs it has left, the missed slots only counted (added to its total), and the fire instant
    of the latest run the pass fired (None: it fired none; the stored one stays)."""

    id: UUID
    state: str
    next_run_at: datetime | None
    next_fire_at: datetime | None
    remaining_runs: int | None
    missed_uncounted: int
    dispatched_fire_at: datetime | None = None


async def advance_many(
    conn: Conn, advances: Sequence[ScheduleAdvance], now: datetime | None = None
) -> None:
    if not advances:
        return
    await conn.execute(
        query("schedule_advance_many"),
        {
            "ids": [a.id for a in advances],
            "states": [a.state for a in advances],
            "next_run_ats": [a.next_run_at for a in advances],
            "next_fire_ats": [a.next_fire_at for a in advances],
            "remaining_runs": [a.remaining_runs for a in advances],
            "missed_uncounted": [a.missed_uncounted for a in advances],
            "dispatched_fire_ats": [a.dispatched_fire_at for a in advances],
            "now": now,
        },
    )


async def pause_unusable(
    conn: Conn, notes: Sequence[tuple[UUID, str]], now: datetime | None = None
) -> None:
    """Pause schedules the dispatcher cannot plan, each with its note."""
    if not notes:
        return
    await conn.execute(
        query("schedule_pause_unusable"),
        {"ids": [i for i, _ in notes], "notes": [n for _, n in notes], "now": now},
    )


class StreakUpdate(NamedTuple):
    """What a batch of ended runs changes on one schedule (schedule_record_outcomes): its last
    status and run, its failures since the batch's last success (`trailing_failures`), and
    whether a success resets the stored streak (`reset`) or the failures add to it."""

    trigger_id: UUID
    last_status: str
    last_run_at: datetime | None
    trailing_failures: int
    reset: bool


class RecordedOutcomes(NamedTuple):
    """What recording ended runs on their schedules found: the schedules auto-paused by their
    failure streak, those whose overlap policy is buffer_one (only they can have a buffered
    run waiting for the ended ones), and those with an incident open that an ended run
    resolves (run.failed, slot.missed)."""

    paused: list[UUID]
    buffering: list[UUID]
    resolvable: frozenset[UUID] = frozenset()


async def record_outcomes(
    conn: Conn, updates: Sequence[StreakUpdate], now: datetime | None = None
) -> RecordedOutcomes:
    """Update last run / streak of schedules (see `RecordedOutcomes`)."""
    if not updates:
        return RecordedOutcomes([], [])
    # Locks first, in id order: concurrent finishers of overlapping schedules never deadlock.
    await _firing_rows(conn, "schedule_lock_many", {"ids": sorted({u.trigger_id for u in updates})})
    rows = await _firing_rows(
        conn,
        "schedule_record_outcomes",
        {
            "trigger_ids": [u.trigger_id for u in updates],
            "last_statuses": [u.last_status for u in updates],
            "last_run_ats": [u.last_run_at for u in updates],
            "trailing_failures": [u.trailing_failures for u in updates],
            "resets": [u.reset for u in updates],
            "now": now,
        },
    )
    return RecordedOutcomes(
        [r["id"] for r in rows if r["paused"]],
        [r["id"] for r in rows if r["buffers_one"]],
        frozenset(r["id"] for r in rows if r["resolvable"]),
    )


async def listen_for_changes(conn: Conn) -> None:
    """From now on `conn.notifies()` yields a notification after each committed change that
    may make a schedule due sooner (worker/dispatcher.py wakes the dispatcher with them)."""
    await conn.execute(query("schedule_changes_listen"))
