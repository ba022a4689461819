"""The fault tests' fire-lag rule (tests/faults/audit.py): the p99 over every instant but the
worst, which may be a stall of the machine but never a second late."""

from __future__ import annotations

import pytest

from tests.faults.audit import assert_fire_lag_within

SCHEDULES = 10


def _window(lags_by_instant: list[float]) -> list[tuple[float, float]]:
    """Every schedule of instant `n` received `lag` after it."""
    return [(n, n + lag) for n, lag in enumerate(lags_by_instant) for _ in range(SCHEDULES)]


def test_one_late_instant_is_set_aside() -> None:
    assert_fire_lag_within(_window([0.01] * 14 + [0.247]), 0.100)


def test_two_late_instants_fail() -> None:
    with pytest.raises(AssertionError):
        assert_fire_lag_within(_window([0.01] * 13 + [0.15, 0.247]), 0.100)


def test_the_instant_set_aside_is_never_a_second_late() -> None:
    with pytest.raises(AssertionError):
        assert_fire_lag_within(_window([0.01] * 14 + [1.2]), 0.100)


def test_a_late_delivery_within_an_instant_counts() -> None:
    slots = _window([0.01] * 15) + [(3, 3.2)] * 2 + [(14, 14.5)]
    with pytest.raises(AssertionError):
        assert_fire_lag_within(slots, 0.100)
