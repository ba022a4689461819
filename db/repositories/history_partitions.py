"""The partitions of the history: listed, created, retired (db/queries/history_partitions.sql).

Each function runs in the caller's transaction; DDL waits for its locks at most as long as
`set_lock_timeout` allows in that transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.domain.history_partitions import Partition, PartitionRange
from db.queries import fetch_all, fetch_one
from db.types import Conn


@dataclass(frozen=True, slots=True)
class Staged:
    """What the long read of a retirement found: statistics rows staged, runs unfinished."""

    rows: int
    late_ids: list[UUID]


async def _value(conn: Conn, name: str, params: Mapping[str, object]) -> Any:
    """The only column of the only row of query `name`."""
    row = await fetch_one(conn, name, params)
    assert row is not None
    return next(iter(row.values()))


async def _int(conn: Conn, name: str, params: Mapping[str, object]) -> int:
    return int(await _value(conn, name, params))


async def list_partitions(conn: Conn) -> list[Partition]:
    return [
        Partition(r["name"], PartitionRange(r["lower_bound"], r["upper_bound"]))
        for r in await fetch_all(conn, "history_partition_list")
    ]


async def set_lock_timeout(conn: Conn, seconds: float) -> None:
    await _value(conn, "history_lock_timeout", {"timeout": f"{max(1, round(seconds * 1000))}ms"})


async def try_lock(conn: Conn) -> bool:
    """The maintenance lock for this transaction; False when another worker holds it."""
    return bool(await _value(conn, "history_maintenance_try_lock", {}))


async def create(conn: Conn, wanted: PartitionRange) -> str | None:
    """Create and attach; None when a partition of that name exists already."""
    name = await _value(
        conn, "history_partition_create", {"lower": wanted.lower, "upper": wanted.upper}
    )
    return None if name is None else str(name)


async def summarize_created_index(conn: Conn, partition: Partition) -> int:
    """Summarize the page ranges of the partition's BRIN index that have none yet."""
    return await _int(conn, "history_partition_summarize", {"name": partition.name})


async def count_keepers(conn: Conn, partition: Partition, cutoff: datetime, cap: int) -> int:
    params = {
        "lower": partition.range.lower,
        "upper": partition.range.upper,
        "cutoff": cutoff,
        "cap": cap,
    }
    return await _int(conn, "history_partition_keepers", params)


async def stage_retirement(conn: Conn, partition: Partition, cutoff: datetime) -> Staged:
    params = {
        "name": partition.name,
        "lower": partition.range.lower,
        "upper": partition.range.upper,
        "cutoff": cutoff,
    }
    row = await fetch_one(conn, "history_partition_stage", params)
    assert row is not None
    return Staged(int(row["staged"]), list(row["late_ids"]))


async def retire(conn: Conn, partition: Partition, cutoff: datetime, late_ids: list[UUID]) -> int:
    """Detach, keep back, take the staged statistics away, drop; returns the rows kept."""
    params = {"name": partition.name, "cutoff": cutoff, "late_ids": late_ids}
    return await _int(conn, "history_partition_retire", params)


async def count_default_rows(conn: Conn, cap: int) -> int:
    return await _int(conn, "history_default_rows", {"cap": cap})


async def try_lock_retirement(conn: Conn) -> bool:
    """The session's retirement lock; False when another worker holds it."""
    return bool(await _value(conn, "history_retirement_try_lock", {}))


async def unlock_retirement(conn: Conn) -> None:
    await _value(conn, "history_retirement_unlock", {})


async def raise_floor(conn: Conn) -> datetime | None:
    """The unfinished floor raised to the oldest unfinished run's slot; returns it (None:
    there is no unfinished run)."""
    floor: datetime | None = await _value(conn, "history_floor_raise", {})
    return floor
