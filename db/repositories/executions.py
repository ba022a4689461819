"""The executions aggregate's only door to SQL: the runs (`workflow_schedule_executions`) and
their attempts. The schedules' side of the firing path (claim, wake-up, advance, outcomes) is in
db/repositories/schedules.py.

What each statement takes and returns is a type of this module (`NewRun`, `AttemptOutcome`,
`Attempt`, ...), not a dict. The rows that cross once per slot or per run are NamedTuples:
immutable and typed like a frozen dataclass, and as cheap to build as the dicts they replace
(a frozen dataclass sets each field through object.__setattr__, several times the cost per
row). Bulk statements take parallel arrays (unnest), so a pass over 10,000 due schedules is
a handful of round trips, not 10,000.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from psycopg.rows import args_row

from app.domain.execution import Execution
from app.domain.firing import SlotRow
from app.domain.schedule import Schedule
from db.queries import query
from db.types import Conn

_Row = TypeVar("_Row")


async def _all(conn: Conn, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchall() if cursor.description else []


async def _typed(
    conn: Conn, name: str, params: dict[str, Any], row: Callable[..., _Row]
) -> list[_Row]:
    """The rows of query `name`, each built as `row(*columns)`: the query returns its columns
    in the order of the row type's fields."""
    async with conn.cursor(row_factory=args_row(row)) as cursor:
        await cursor.execute(query(name), params)
        return await cursor.fetchall()


class NewRun(NamedTuple):
    """One execution row to insert (execution_insert_many). `id` and `job_id` come with a run
    whose job is deferred before the insert (the dispatcher's); otherwise the id is generated
    by the insert. Built only by the factories below: one place spells a run row."""

    trigger_id: UUID
    workflow_id: str
    tenant: str
    scheduled_at: datetime
    fire_at: datetime | None
    status: str
    trigger: str
    error: str | None = None
    buffered: bool = False
    id: UUID | None = None
    job_id: int | None = None

    @classmethod
    def for_slot(
        cls,
        schedule: Schedule,
        slot: SlotRow,
        *,
        id: UUID | None = None,  # noqa: A002 - the column's name
        job_id: int | None = None,
        started: bool = False,
    ) -> NewRun:
        """The row of a slot the dispatcher planned; `started`: written as its first attempt,
        already `running` (a run this process's dispatcher runs itself)."""
        return cls(
            schedule.id,
            schedule.workflow_id,
            schedule.tenant,
            slot.scheduled_at,
            slot.fire_at,
            "running" if started else slot.status,
            slot.trigger,
            slot.error,
            slot.buffered,
            id,
            job_id,
        )

    @classmethod
    def manual(cls, schedule: Schedule, at: datetime) -> NewRun:
        """A run asked for now (`POST .../run`), due at once."""
        return cls(schedule.id, schedule.workflow_id, schedule.tenant, at, at, "pending", "manual")

    @classmethod
    def backfill(cls, schedule: Schedule, slot: datetime) -> NewRun:
        """A past slot run on request. No fire instant: it is sent as soon as its job runs."""
        return cls(
            schedule.id, schedule.workflow_id, schedule.tenant, slot, None, "pending", "backfill"
        )


class InsertedRun(NamedTuple):
    """A row execution_insert_many did insert (a slot that had one already is not returned)."""

    id: UUID
    trigger_id: UUID
    scheduled_at: datetime
    status: str
    buffered: bool


async def insert_many(
    conn: Conn, runs: Sequence[NewRun], *, now: datetime | None = None
) -> list[InsertedRun]:
    """Insert execution rows; a slot that already has one is skipped. Returns what was new.

    A run to be sent names its schedule's current spec (input, target, retry limits), read
    from the schedule row in the same statement; callers pass no input. A row of status
    `running` is written as its first attempt started at `now` (else the database clock), or
    at its fire instant if that is later; a `missed` or `skipped` row ends at `now`."""
    if not runs:
        return []
    return await _typed(
        conn,
        "execution_insert_many",
        {
            "ids": [r.id for r in runs],
            "job_ids": [r.job_id for r in runs],
            "trigger_ids": [r.trigger_id for r in runs],
            "workflow_ids": [r.workflow_id for r in runs],
            "tenants": [r.tenant for r in runs],
            "scheduled_ats": [r.scheduled_at for r in runs],
            "fire_ats": [r.fire_at for r in runs],
            "statuses": [r.status for r in runs],
            "triggers": [r.trigger for r in runs],
            "errors": [r.error for r in runs],
            "buffereds": [r.buffered for r in runs],
            "now": now,
        },
        InsertedRun,
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


class Attempt(NamedTuple):
    """One try of a run, about to be sent, with what it needs: its own input, target and retry
    limits as its schedule had them when the run was created (a later edit does not move a
    run already created, SPEC §2), and how to sign it: `tenant_keys` is None for the default
    target (the deployment secret signs), else the tenant's valid keys, newest first. Built
    once per run: 0.8 us where the frozen dataclass took 4.3 (timeit)."""

    execution_id: UUID
    trigger_id: UUID
    workflow_id: str
    scheduled_at: datetime
    fire_at: datetime | None
    attempt: int
    trigger: str
    input: dict[str, Any]
    target_url: str | None
    timeout_seconds: float
    max_attempts: int
    retry_backoff_seconds: float
    started_at: datetime  # database clock when the attempt was claimed
    tenant_keys: tuple[str, ...] | None = None
    completion_timeout_seconds: int = 3600  # how long an accepted run may await its report
    tenant: str | None = None


def dispatched_attempt(
    schedule: Schedule, run_id: UUID, slot: SlotRow, started_at: datetime
) -> Attempt:
    """The first attempt of a run its dispatcher inserted `running` (default target), from
    what the dispatcher held: what `read_started` would read back, without the read (issue 13:
    ~14 us of PostgreSQL and as much of the worker per slot). The claim locked the schedule's
    row until the insert committed, so the run's spec is the schedule as claimed.
    `started_at`: the database clock at the start."""
    return Attempt(
        run_id,
        schedule.id,
        schedule.workflow_id,
        slot.scheduled_at,
        slot.fire_at,
        1,
        slot.trigger,
        schedule.input,
        None,
        schedule.timeout_seconds,
        schedule.max_attempts,
        schedule.retry_backoff_seconds,
        started_at,
        None,
        schedule.completion_timeout_seconds,
        schedule.tenant,
    )


def _attempt(r: dict[str, Any]) -> Attempt:
    return Attempt(
        execution_id=r["id"],
        trigger_id=r["trigger_id"],
        workflow_id=r["workflow_id"],
        scheduled_at=r["scheduled_at"],
        fire_at=r["fire_at"],
        attempt=r["attempts"],
        trigger=r["trigger"],
        input=r["input"],
        target_url=r["target_url"],
        timeout_seconds=r["timeout_seconds"],
        max_attempts=r["max_attempts"],
        retry_backoff_seconds=r["retry_backoff_seconds"],
        started_at=r["db_now"],
        tenant_keys=None if r["tenant_keys"] is None else tuple(r["tenant_keys"]),
        completion_timeout_seconds=r["completion_timeout_seconds"],
        tenant=r["tenant"],
    )


def key_params(slots: dict[UUID, datetime], now: datetime | None) -> dict[str, Any]:
    """The runs' full keys: their ids and, pairwise, their slots (`id_slots`), and the
    distinct slots (`scheduled_ats`), which keep a plan to their partitions."""
    return {
        "ids": list(slots),
        "id_slots": list(slots.values()),
        "scheduled_ats": sorted(set(slots.values())),
        "now": now,
    }


async def start_attempts(
    conn: Conn, slots: dict[UUID, datetime], now: datetime | None = None
) -> list[Attempt]:
    """Start the runs named by their full keys (`keys`: id -> scheduled_at)."""
    if not slots:
        return []
    rows = await _all(conn, "execution_start_attempts", key_params(slots, now))
    return [_attempt(r) for r in rows]


async def read_started(
    conn: Conn, slots: dict[UUID, datetime], now: datetime | None = None
) -> list[Attempt]:
    """What `start_attempts` returns, for runs inserted already started (no write)."""
    if not slots:
        return []
    rows = await _all(conn, "execution_read_started", key_params(slots, now))
    return [_attempt(r) for r in rows]


class RunningByTenant(NamedTuple):
    running: dict[str, int]  # per tenant, counted up to the limit asked
    processes: int  # the worker processes alive
    seated: bool  # whether the caller's process holds its seat among them


async def running_by_tenant(
    conn: Conn,
    tenants: Sequence[str],
    count_limit: int,
    process_id: UUID,
    now: datetime | None = None,
) -> RunningByTenant:
    """Each tenant's runs `running`, counted up to `count_limit`, the worker processes alive
    at `now` (else the database clock), and whether process `process_id` holds its seat in
    the fleet (docs/architecture.md). No lock."""
    rows = await _all(
        conn,
        "execution_running_by_tenant",
        {
            "tenants": list(tenants),
            "count_limit": count_limit,
            "process_id": process_id,
            "now": now,
        },
    )
    if not rows:
        return RunningByTenant({}, 0, False)
    running = {r["tenant"]: int(r["running"]) for r in rows}
    return RunningByTenant(running, int(rows[0]["processes"]), bool(rows[0]["seated"]))


async def cancel_waiting(
    conn: Conn, tenant: str, trigger_id: UUID, now: datetime | None = None
) -> None:
    """A deleted schedule's waiting runs end `cancelled` (in the caller's transaction) at
    `now` (else the database clock)."""
    await conn.execute(
        query("execution_cancel_waiting"), {"tenant": tenant, "trigger_id": trigger_id, "now": now}
    )


async def cancel_orphans(
    conn: Conn, slots: dict[UUID, datetime], now: datetime | None = None
) -> tuple[set[UUID], datetime | None]:
    """A batch's start: cancel the runs (full keys) whose schedule is gone, at `now` (else
    the database clock). Returns the runs still in their first attempt whose schedule is
    there, and the database clock (None when there are none). One read of the runs; the
    cancel is a second statement, only when some schedule is gone (rare)."""
    if not slots:
        return set(), None
    rows = await _all(conn, "execution_batch_runs", key_params(slots, now))
    gone = {r["id"]: slots[r["id"]] for r in rows if not r["alive"]}
    if gone:
        await conn.execute(query("execution_cancel_orphans"), key_params(gone, now))
    first = [r for r in rows if r["alive"] and r["first_attempt"]]
    return {r["id"] for r in first}, first[0]["db_now"] if first else None


class AttemptOutcome(NamedTuple):
    """What one attempt of a run came to (execution_finish_many): the run's new `status`, and
    for a retry the delay of the next attempt. `scheduled_at` is the run's slot, so that only
    its partition is read (looked up when None); `attempt` must still be the run's current one;
    `answered_at` is when the answer arrived (else the `now` of the statement). What an answer
    did not say (no status, no body, no retry) is None."""

    id: UUID
    scheduled_at: datetime | None
    status: str
    attempt: int
    completion_timeout: int
    http_status: int | None = None
    error: str | None = None
    workflow_run_id: str | None = None
    duration_ms: int | None = None
    retry_delay_seconds: float | None = None
    answered_at: datetime | None = None


class EndedRun(NamedTuple):
    """A run whose attempt was recorded, or whose workflow's outcome was (db/queries/
    outcomes.sql): what the finishers do next with it (retries, streaks, incidents)."""

    id: UUID
    trigger_id: UUID
    status: str
    started_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    trigger: str


def outcome_params(outcomes: Sequence[AttemptOutcome], now: datetime | None) -> dict[str, Any]:
    """execution_finish_many's parameters: the outcomes' fields, each as an array."""
    return {
        "ids": [o.id for o in outcomes],
        "scheduled_ats": [o.scheduled_at for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "http_statuses": [o.http_status for o in outcomes],
        "errors": [o.error for o in outcomes],
        "workflow_run_ids": [o.workflow_run_id for o in outcomes],
        "durations": [o.duration_ms for o in outcomes],
        "retry_delays": [o.retry_delay_seconds for o in outcomes],
        "attempts": [o.attempt for o in outcomes],
        "answered_ats": [o.answered_at for o in outcomes],
        "completion_timeouts": [o.completion_timeout for o in outcomes],
        "now": now,
    }


async def finish_many(
    conn: Conn, outcomes: Sequence[AttemptOutcome], now: datetime | None = None
) -> list[EndedRun]:
    """Record outcomes of attempts; returns the runs whose current attempt they were."""
    if not outcomes:
        return []
    unknown = [o.id for o in outcomes if o.scheduled_at is None]
    if unknown:
        slots = await keys(conn, unknown, now)
        outcomes = [
            o._replace(scheduled_at=slots.get(o.id)) if o.scheduled_at is None else o
            for o in outcomes
        ]
    return await _typed(conn, "execution_finish_many", outcome_params(outcomes, now), EndedRun)


async def release_buffered(conn: Conn, trigger_ids: Sequence[UUID]) -> list[UUID]:
    if not trigger_ids:
        return []
    rows = await _all(conn, "execution_release_buffered", {"trigger_ids": list(trigger_ids)})
    return [r["id"] for r in rows]


ORPHAN_SEARCH_START = datetime(1, 1, 1, tzinfo=UTC)  # before any run was made


class OrphanPage(NamedTuple):
    """One window of the orphan search: how many in-flight runs it read, where it ended (the
    next window starts after it; None when it reached the minimum age), that minimum-age
    bound (`head`: the database clock less the minimum age), and the orphans among them,
    locked: (run, when its next attempt is due)."""

    read: int
    last: datetime | None
    head: datetime
    orphans: list[tuple[UUID, datetime | None]]


async def find_orphans(
    conn: Conn,
    *,
    min_age_seconds: float,
    after: datetime,
    span_seconds: float,
    limit: int,
    now: datetime | None = None,
) -> OrphanPage:
    """In-flight runs made in a window of `span_seconds` from the first one made after
    `after`, older than `min_age_seconds` at `now` (else the database clock), and those of
    them whose job is gone or ended (`limit` at most)."""
    params = {
        "min_age_seconds": min_age_seconds,
        "span_seconds": span_seconds,
        "after": after,
        "limit": limit,
        "now": now,
    }
    rows = await _all(conn, "execution_find_orphans", params)
    head = rows[0]  # always one row: what the window read and where it ended
    orphans = [(r["id"], r["next_attempt_at"]) for r in rows if r["id"] is not None]
    return OrphanPage(head["read"], head["last"], head["head"], orphans)


async def find_unreleased_buffered(conn: Conn, limit: int) -> list[UUID]:
    rows = await _all(conn, "execution_find_unreleased_buffered", {"limit": limit})
    return [r["trigger_id"] for r in rows]


async def get(
    conn: Conn, tenant: str, execution_id: UUID, scheduled_at: datetime | None = None
) -> Execution | None:
    """The tenant's run; given its slot (the partition key), looked for in its own partition
    only, not in every partition's primary key."""
    if scheduled_at is None:
        rows = await _all(conn, "execution_get", {"id": execution_id, "tenant": tenant})
    else:
        params = {"id": execution_id, "scheduled_at": scheduled_at, "tenant": tenant}
        rows = await _all(conn, "execution_get_at", params)
    return Execution.from_row(rows[0]) if rows else None


async def latest(conn: Conn, tenant: str, trigger_id: UUID) -> Execution | None:
    """The schedule's run with the newest slot, if any."""
    rows = await _all(conn, "execution_latest", {"tenant": tenant, "trigger_id": trigger_id})
    return Execution.from_row(rows[0]) if rows else None


async def list_page(
    conn: Conn,
    tenant: str,
    trigger_id: UUID,
    *,
    limit: int,
    before: datetime | None,
    status: str | None,
) -> list[Execution]:
    """A page of a schedule's history, newest first: slots before `before` (the slot is
    unique per schedule, so it alone is the cursor's key)."""
    rows = await _all(
        conn,
        "execution_list",
        {
            "tenant": tenant,
            "trigger_id": trigger_id,
            "limit": limit,
            "status": status,
            "before_scheduled_at": before,
        },
    )
    return [Execution.from_row(r) for r in rows]
