"""Which history partitions to create and which to retire: pure functions of the partitions
that exist, the current instant and the settings (docs/history-partitions.md).

The history (workflow_schedule_executions) is partitioned by range of `scheduled_at`. Ranges
are half-open, UTC, and aligned on multiples of the width counted from the Unix epoch (a
24-hour width gives UTC days). Changing the width changes only the partitions made from then
on: the first new one is cut short to reach the new grid, so ranges never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """The slots of [lower, upper), aware UTC instants."""

    lower: datetime
    upper: datetime


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    range: PartitionRange


@dataclass(frozen=True, slots=True)
class PartitionPolicy:
    width: timedelta = timedelta(days=1)
    ahead: int = 3  # partitions beyond the current one, so a slot never waits for one


def grid_floor(instant: datetime, width: timedelta) -> datetime:
    """The start of the grid cell of `width` that holds `instant`."""
    cells = (instant - EPOCH) // width
    return EPOCH + cells * width


def ranges_to_create(
    existing: list[PartitionRange], now: datetime, policy: PartitionPolicy
) -> list[PartitionRange]:
    """The missing ranges from the cell holding `now` to `ahead` cells beyond it.

    A range that an existing partition covers, even partly, is skipped from that partition's
    upper bound on; a new range ends at the next grid line or the next partition's lower bound,
    whichever comes first. The DEFAULT partition holds every instant no range covers, so a
    range not created yet loses nothing: its rows are moved into it when it is created.
    """
    cursor = grid_floor(now, policy.width)
    horizon = cursor + (policy.ahead + 1) * policy.width
    taken = sorted(existing, key=lambda r: r.lower)
    wanted: list[PartitionRange] = []
    while cursor < horizon:
        covering = next((r for r in taken if r.lower <= cursor < r.upper), None)
        if covering is not None:
            cursor = covering.upper
            continue
        end = grid_floor(cursor, policy.width) + policy.width
        following = [r.lower for r in taken if r.lower > cursor]
        if following:
            end = min(end, following[0])
        wanted.append(PartitionRange(cursor, end))
        cursor = end
    return wanted


def partitions_to_retire(existing: list[Partition], cutoff: datetime) -> list[Partition]:
    """Partitions whose every slot is older than `cutoff` (now − retention), oldest first."""
    return sorted((p for p in existing if p.range.upper <= cutoff), key=lambda p: p.range.lower)
