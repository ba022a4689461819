"""The orphan search's cursor (app/services/attempts.py): a window sized to about a page, and
a cursor that gains on the clock, so every cycle ends and every in-flight run is read once a
cycle, however many are made each second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.services.attempts import ORPHAN_SPANS, OrphanCursor
from db.repositories.executions import ORPHAN_SEARCH_START, OrphanPage

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _pass(cursor: OrphanCursor, head: datetime, made_per_second: float) -> None:
    """One pass over runs made at a steady rate: the window read from the cursor, up to the
    head (the minimum-age bound)."""
    start = max(cursor.after, head - timedelta(hours=1))  # the backlog began an hour back
    until = start + timedelta(seconds=cursor.span_seconds)
    if until >= head:
        read = int((head - start).total_seconds() * made_per_second)
        cursor.moved(OrphanPage(read, None, head, []), limit=5_000)
    else:
        read = int(cursor.span_seconds * made_per_second)
        cursor.moved(OrphanPage(read, until, head, []), limit=5_000)


@pytest.mark.parametrize("made_per_second", [10.0, 1_000.0, 20_000.0])
def test_a_cycle_ends_however_many_runs_are_made_each_second(made_per_second: float) -> None:
    """Passes every 5 s over runs that stay in flight (a target down for hours): the window
    shrinks toward a page, but never below twice the time since the pass before, so the
    cursor gains on the clock and starts again from the oldest within a bounded number of
    passes (it fell behind for good when only the page sized it)."""
    cursor = OrphanCursor()
    head = T0
    for passes in range(1, 2_000):
        head += timedelta(seconds=5)
        _pass(cursor, head, made_per_second)
        if cursor.after == ORPHAN_SEARCH_START and passes > 1:
            break
    assert cursor.after == ORPHAN_SEARCH_START, "the cursor never reached the clock"
    assert passes < 1_000
    assert cursor.span_seconds >= 10.0  # twice the 5 s between passes


def test_a_window_is_scaled_to_the_page_by_what_the_last_one_read() -> None:
    cursor = OrphanCursor(span_seconds=16.0)
    cursor.moved(OrphanPage(20_000, T0, T0, []), limit=5_000)
    assert cursor.span_seconds == 4.0  # a quarter: 4 times the page was read
    cursor.moved(OrphanPage(0, T0, T0, []), limit=5_000)
    assert cursor.span_seconds == 8.0  # at most doubled
    cursor.moved(OrphanPage(10_000_000, T0, T0, []), limit=5_000)
    assert cursor.span_seconds == 8.0 / 64  # at most divided by 64
    for _ in range(40):  # empty windows short of the minimum age: at most a day
        cursor.moved(OrphanPage(0, T0, T0, []), limit=5_000)
    assert cursor.span_seconds == ORPHAN_SPANS[1]


def test_a_window_cut_at_the_minimum_age_does_not_grow() -> None:
    """Quiet passes read nothing up to the minimum age: that says nothing of how many runs a
    longer window would hold, so the next backlog is not met with a day-long window."""
    cursor = OrphanCursor(span_seconds=16.0)
    for second in range(0, 100, 5):
        cursor.moved(OrphanPage(0, None, T0 + timedelta(seconds=second), []), limit=5_000)
    assert cursor.span_seconds == 16.0


def test_a_gap_between_passes_raises_the_floor_twofold_at_most() -> None:
    """After a 10-minute outage the next window is not 20 minutes long (it would read the
    whole backlog at once): the floor follows the pace of the passes, growing twofold a pass."""
    cursor = OrphanCursor(span_seconds=4.0)
    cursor.moved(OrphanPage(5_000, T0, T0, []), limit=5_000)
    cursor.moved(OrphanPage(5_000, T0, T0 + timedelta(minutes=10), []), limit=5_000)
    assert cursor.span_seconds == 8.0


def test_a_failed_pass_forgets_its_clock_and_a_timed_out_one_halves_the_window() -> None:
    cursor = OrphanCursor(span_seconds=16.0, head=T0)
    cursor.failed(timed_out=False)
    assert (cursor.span_seconds, cursor.head) == (16.0, None)
    cursor.failed(timed_out=True)
    assert cursor.span_seconds == 8.0
