"""Which history partitions to make and which to retire: pure planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.history_partitions import (
    Partition,
    PartitionPolicy,
    PartitionRange,
    grid_floor,
    partitions_to_retire,
    ranges_to_create,
)

DAY = timedelta(days=1)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, tzinfo=UTC)


def test_days_from_the_current_one_to_ahead() -> None:
    wanted = ranges_to_create([], at(20, 13), PartitionPolicy(DAY, ahead=2))
    assert wanted == [
        PartitionRange(at(20), at(21)),
        PartitionRange(at(21), at(22)),
        PartitionRange(at(22), at(23)),
    ]


def test_existing_ranges_are_skipped_and_gaps_filled() -> None:
    existing = [PartitionRange(at(21), at(22))]
    wanted = ranges_to_create(existing, at(20, 1), PartitionPolicy(DAY, ahead=2))
    assert wanted == [PartitionRange(at(20), at(21)), PartitionRange(at(22), at(23))]
    assert ranges_to_create(wanted + existing, at(20, 23), PartitionPolicy(DAY, ahead=2)) == []


def test_a_wider_grid_after_narrow_partitions_starts_short_never_overlapping() -> None:
    six_hours = [PartitionRange(at(20, h), at(20, h + 6)) for h in (0, 6, 12)]
    wanted = ranges_to_create(six_hours, at(20, 1), PartitionPolicy(DAY, ahead=1))
    assert wanted == [PartitionRange(at(20, 18), at(21)), PartitionRange(at(21), at(22))]


def test_a_new_range_stops_at_the_next_existing_partition() -> None:
    existing = [PartitionRange(at(21, 6), at(22))]
    wanted = ranges_to_create(existing, at(21, 1), PartitionPolicy(DAY, ahead=0))
    assert wanted == [PartitionRange(at(21), at(21, 6))]


def test_the_grid_is_utc_days_from_the_epoch() -> None:
    assert grid_floor(at(20, 23), DAY) == at(20)
    assert grid_floor(at(20, 23), timedelta(hours=6)) == at(20, 18)


def test_only_partitions_wholly_older_than_the_cutoff_retire_oldest_first() -> None:
    parts = [Partition(f"p{d}", PartitionRange(at(d), at(d + 1))) for d in (12, 10, 11)]
    assert [p.name for p in partitions_to_retire(parts, at(12, 6))] == ["p10", "p11"]
    assert partitions_to_retire(parts, at(10, 23)) == []
