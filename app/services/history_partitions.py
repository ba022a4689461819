"""Partitions of the history made ahead, and retired whole when retention has passed
(docs/history-partitions.md).

`ensure_ahead`: the partitions from the one holding `now` to `ahead` beyond it, each created in
its own short transaction. `retire_expired`: every partition whose slots are all older than the
retention goes, with exactly the statistics the batched DELETE gave: a long read stages them
(no lock), a short transaction detaches the partition, keeps back into the DEFAULT partition
the rows a DELETE would have kept (unfinished, or created after the cutoff), takes the staged
statistics away and drops it.

Both take `now` (None: the database clock) and wait for a lock at most `lock_timeout` seconds:
a DDL statement waiting for its lock makes every later statement on the table wait behind it,
so firing would stall for as long as it waits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from app.domain.history_partitions import (
    Partition,
    PartitionPolicy,
    partitions_to_retire,
    ranges_to_create,
)
from db.clock import db_now
from db.repositories import history_partitions as repo
from db.types import Conn

log = logging.getLogger("app.history_partitions")
MAX_KEEPERS = 10_000  # rows a retirement moves at most; with more, the partition waits
FLOOR_LOCK_TIMEOUT = 0.05
"""The floor's raise waits for in-flight writers; writers that come meanwhile queue behind it,
so it waits briefly and tries again next pass rather than stall firing."""


@dataclass(frozen=True, slots=True)
class Retired:
    partitions: tuple[str, ...] = ()
    kept: int = 0  # rows moved to the DEFAULT partition instead of being dropped
    waiting: tuple[str, ...] = ()  # expired partitions left for a later pass


@dataclass(frozen=True, slots=True)
class HistoryPass:
    created: tuple[str, ...] = ()
    retired: Retired = field(default_factory=Retired)
    default_rows: int = 0  # counted up to DEFAULT_ROWS_CAP
    floor_raised: bool = False  # False: in-flight writers held the floor past lock_timeout
    unfinished_floor: datetime | None = None  # the oldest unfinished slot (None: none)


DEFAULT_ROWS_CAP = 100_000


async def _now(conn: Conn, now: datetime | None) -> datetime:
    return now if now is not None else await db_now(conn)


async def ensure_ahead(
    conn: Conn, now: datetime | None, policy: PartitionPolicy, lock_timeout: float
) -> tuple[str, ...]:
    """Create the missing partitions up to `policy.ahead` beyond the current one; returns
    their names. Stops early (nothing lost: the DEFAULT partition holds those slots) when
    another worker is at it or a lock is not granted in time."""
    at = await _now(conn, now)
    existing = [p.range for p in await repo.list_partitions(conn)]
    created: list[str] = []
    for wanted in ranges_to_create(existing, at, policy):
        try:
            async with conn.transaction():
                await repo.set_lock_timeout(conn, lock_timeout)
                if not await repo.try_lock(conn):
                    break
                name = await repo.create(conn, wanted)
        except psycopg.errors.LockNotAvailable:
            log.warning(
                "history partition not created yet: its lock was not granted in time",
                extra={"event": "history.create_lock_timeout", "lower": wanted.lower.isoformat()},
            )
            break
        if name is not None:
            created.append(name)
    if created:
        log.info(
            "history partitions created",
            extra={"event": "history.partitions_created", "partitions": created},
        )
    return tuple(created)


async def retire_expired(
    conn: Conn,
    now: datetime | None,
    retention_days: int,
    lock_timeout: float,
    max_keepers: int = MAX_KEEPERS,
) -> Retired:
    """Retire the partitions whose slots are all older than `retention_days`, oldest first."""
    cutoff = await _now(conn, now) - timedelta(days=retention_days)
    expired = partitions_to_retire(await repo.list_partitions(conn), cutoff)
    if not expired:
        return Retired()
    if not await repo.try_lock_retirement(conn):
        return Retired(waiting=tuple(p.name for p in expired))
    try:
        return await _retire_all(conn, expired, cutoff, lock_timeout, max_keepers)
    finally:
        await repo.unlock_retirement(conn)


async def _retire_all(
    conn: Conn, expired: list[Partition], cutoff: datetime, lock_timeout: float, max_keepers: int
) -> Retired:
    retired: list[str] = []
    waiting: list[str] = []
    kept = 0
    for partition in expired:
        # Before the reads of its rows created late: those use the BRIN index on created_at.
        await repo.summarize_created_index(conn, partition)
        if await repo.count_keepers(conn, partition, cutoff, max_keepers + 1) > max_keepers:
            waiting.append(partition.name)
            continue
        moved = await _retire_one(conn, partition, cutoff, lock_timeout)
        if moved is None:
            waiting.append(partition.name)
        else:
            retired.append(partition.name)
            kept += moved
    if retired or waiting:
        log.info(
            "history partitions retired",
            extra={
                "event": "history.partitions_retired",
                "partitions": retired,
                "kept": kept,
                "waiting": waiting,
            },
        )
    return Retired(tuple(retired), kept, tuple(waiting))


async def _retire_one(
    conn: Conn, partition: Partition, cutoff: datetime, lock_timeout: float
) -> int | None:
    """Rows kept back; None when the locks were not granted in time (tried again later)."""
    async with conn.transaction():
        staged = await repo.stage_retirement(conn, partition, cutoff)
    try:
        async with conn.transaction():
            await repo.set_lock_timeout(conn, lock_timeout)
            return await repo.retire(conn, partition, cutoff, staged.late_ids)
    except psycopg.errors.LockNotAvailable:
        log.warning(
            "history partition not retired: its lock was not granted in time",
            extra={"event": "history.retire_lock_timeout", "partition": partition.name},
        )
        return None


async def maintain(
    conn: Conn,
    now: datetime | None,
    policy: PartitionPolicy,
    retention_days: int,
    lock_timeout: float,
) -> HistoryPass:
    """One pass of the partition maintenance: create ahead, retire the expired."""
    at = await _now(conn, now)
    created = await ensure_ahead(conn, at, policy, lock_timeout)
    retired = await retire_expired(conn, at, retention_days, lock_timeout)
    default_rows = await repo.count_default_rows(conn, DEFAULT_ROWS_CAP)
    raised, floor = await raise_floor(conn, min(lock_timeout, FLOOR_LOCK_TIMEOUT))
    return HistoryPass(created, retired, default_rows, raised, floor)


async def raise_floor(conn: Conn, lock_timeout: float) -> tuple[bool, datetime | None]:
    """Raise the unfinished floor (migration 0010) to the oldest unfinished run's slot, so
    that questions about unfinished runs read fewer partitions: (raised, the new floor, None
    when no run is unfinished). Not raised when in-flight writers held it longer than
    `lock_timeout`: tried again next pass (a floor that stays low only costs speed)."""
    try:
        async with conn.transaction():
            await repo.set_lock_timeout(conn, lock_timeout)
            return True, await repo.raise_floor(conn)
    except psycopg.errors.LockNotAvailable:
        return False, None
