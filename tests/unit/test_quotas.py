"""The runs-per-minute window (app/domain/quotas.py): pure arithmetic, time as an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.quotas import (
    RunUsage,
    elapsed_in_minute,
    minute_of,
    runs_left,
    seconds_until_room,
)


def test_buckets_are_utc_minutes() -> None:
    now = datetime(2026, 3, 8, 10, 7, 42, 250_000, tzinfo=UTC)
    assert minute_of(now) == datetime(2026, 3, 8, 10, 7, tzinfo=UTC)
    assert elapsed_in_minute(now) == 42.25


def test_the_previous_minute_fades_out_over_this_one() -> None:
    assert runs_left(RunUsage(previous=60, current=0, elapsed=0), 100) == 40
    assert runs_left(RunUsage(previous=60, current=0, elapsed=30), 100) == 70
    assert runs_left(RunUsage(previous=60, current=10, elapsed=59), 100) == 89
    assert runs_left(RunUsage(previous=0, current=100, elapsed=5), 100) == 0
    assert runs_left(RunUsage(previous=500, current=500, elapsed=5), 100) == 0


def test_retry_after_is_when_the_runs_fit() -> None:
    # 60 last minute, 30 now, at 0 s: 10 fit; 40 fit once 30 of last minute's 60 faded (30 s).
    assert seconds_until_room(RunUsage(60, 30, 0), 100, 40) == 30
    # This minute's own runs leave no room before the next minute: 20 s to it, then
    # 90 * (1 - t/60) <= 100 - 50 -> t >= 26.7 s.
    assert seconds_until_room(RunUsage(0, 90, 40), 100, 50) == 47
    assert seconds_until_room(RunUsage(0, 100, 59.5), 100, 100) == 61
    assert seconds_until_room(RunUsage(0, 0, 59.9), 100, 1) >= 1


@settings(max_examples=300, deadline=None)
@given(
    previous=st.integers(0, 300),
    current=st.integers(0, 300),
    elapsed=st.floats(0, 59.99),
    limit=st.integers(1, 200),
    wanted_share=st.floats(0.01, 1),
)
def test_after_retry_after_the_runs_fit_and_not_a_second_earlier(
    previous: int, current: int, elapsed: float, limit: int, wanted_share: float
) -> None:
    wanted = max(1, int(limit * wanted_share))
    usage = RunUsage(previous, current, elapsed)
    if runs_left(usage, limit) >= wanted:
        return
    wait = seconds_until_room(usage, limit, wanted)
    assert wait >= 1

    def at(seconds: float) -> RunUsage:
        t = elapsed + seconds
        if t < 60:
            return RunUsage(previous, current, t)
        return RunUsage(current if t < 120 else 0, 0, t % 60)

    assert runs_left(at(wait), limit) >= wanted
    if wait > 1:
        assert runs_left(at(wait - 1.0), limit) < wanted or wait - 1 <= 60 - elapsed


def test_no_sliding_window_holds_more_than_the_limit() -> None:
    """A tenant that takes every run it is granted, asking every second: over time it gets the
    limit per minute, and the worst 60 s hold at most 1.5x the limit (a fixed window gives 2x:
    a full minute's quota at 10:00:59 and another at 10:01:00)."""
    limit, granted = 100, []
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=30)
    buckets: dict[datetime, int] = {}
    for second in range(600):
        now = start + timedelta(seconds=second)
        minute = minute_of(now)
        usage = RunUsage(
            buckets.get(minute - timedelta(minutes=1), 0),
            buckets.get(minute, 0),
            elapsed_in_minute(now),
        )
        take = runs_left(usage, limit)
        buckets[minute] = buckets.get(minute, 0) + take
        granted.append(take)
    worst = max(sum(granted[i : i + 60]) for i in range(len(granted) - 60))
    assert worst <= 1.5 * limit
    assert sum(granted[-300:]) <= 5 * limit
