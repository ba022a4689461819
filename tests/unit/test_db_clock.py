"""The database clock estimate: the sample with the shortest round trip wins, old ones expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.db_clock import DbClock

EPOCH = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def test_no_estimate_before_a_sample():
    clock = DbClock()
    assert clock.monotonic_at(EPOCH) is None and clock.error_bound is None


def test_the_middle_of_the_round_trip_maps_the_clocks():
    clock = DbClock()
    # Asked at monotonic 100.000, answered at 100.002: the database said EPOCH in between.
    clock.add(EPOCH, sent=100.000, received=100.002)
    # The middle of the round trip (100.001), plus the error bound: never early.
    assert clock.monotonic_at(EPOCH) == pytest.approx(100.002)
    assert clock.monotonic_at(at(5)) == pytest.approx(105.002)
    assert clock.error_bound == pytest.approx(0.001)


def test_the_shortest_round_trip_wins_over_a_slow_answer():
    clock = DbClock()
    clock.add(at(0), sent=100.000, received=100.0002)  # quiet: 0.2 ms
    clock.add(at(10.05), sent=110.000, received=110.100)  # loaded: 100 ms, answer read late
    assert clock.monotonic_at(at(20)) == pytest.approx(120.0002)
    assert clock.error_bound == pytest.approx(0.0001)


def test_samples_older_than_the_window_are_forgotten():
    """A step of the database clock is picked up once the old samples leave the window."""
    clock = DbClock(window_seconds=60)
    clock.add(at(0), sent=100.000, received=100.0002)
    clock.add(at(70 + 3), sent=170.000, received=170.010)  # the database clock stepped 3 s
    assert clock.monotonic_at(at(73)) == pytest.approx(170.010)
