"""An independent, brute-force reference for the slot rules of SPEC §3 (tests only).

It shares nothing with `app.domain.slots` / `app.domain.wall_times`: it walks UTC instants one
step at a time (a minute, or a second for 6-field expressions), asks zoneinfo for each
instant's local wall time and fold, and applies the rules literally:
- a wall time that matches fires at that instant; for a fixed-time schedule only in the first
  pass of a repeated hour (fold == 0);
- at a forward transition instant T (the wall clock jumped by more than one step), a fixed-time
  schedule with any matching wall time in the skipped range [wall before T, wall after T) fires
  at T; a set collapses it with a regular slot at T.
Slow on purpose (thousands of zoneinfo calls per day walked): use small windows.
It assumes transitions fall on the walk's grid (true for every zone and year tested here).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.domain.cron import CronSpec


def ref_matches(spec: CronSpec, wall: datetime) -> bool:
    """The Vixie matching rule, written out again (weekday via isoweekday, not cron.py)."""
    if not (
        wall.second in spec.seconds
        and wall.minute in spec.minutes
        and wall.hour in spec.hours
        and wall.month in spec.months
    ):
        return False
    dom_ok = wall.day in spec.days_of_month
    dow_ok = wall.isoweekday() % 7 in spec.days_of_week  # isoweekday: Monday 1 .. Sunday 7
    if spec.dom_restricted and spec.dow_restricted:
        return dom_ok or dow_ok
    return dom_ok and dow_ok


# One walked instant: (instant UTC, local wall time, fold, wall times skipped just before it).
Step = tuple[datetime, datetime, int, tuple[datetime, ...]]


@lru_cache(maxsize=256)
def walk(zone: ZoneInfo, start: datetime, end: datetime, step_seconds: int) -> tuple[Step, ...]:
    """Every grid instant in [start, end] (aware UTC, grid aligned to `step_seconds`)."""
    step = timedelta(seconds=step_seconds)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t = epoch + -((epoch - start) // step) * step  # first grid instant >= start
    prev = (t - step).astimezone(zone)
    out: list[Step] = []
    while t <= end:
        local = t.astimezone(zone)
        wall = local.replace(tzinfo=None, fold=0)
        prev_wall = prev.replace(tzinfo=None, fold=0)
        skipped: list[datetime] = []
        if wall - prev_wall > step:  # the clock jumped forward between prev and t
            # The offset must change exactly at t for the skipped range to be [prev+step, wall).
            just_before = (t - timedelta(seconds=1)).astimezone(zone)
            assert just_before.utcoffset() == prev.utcoffset(), "transition off the grid"
            w = prev_wall + step
            while w < wall:
                skipped.append(w)
                w += step
        out.append((t, wall, local.fold, tuple(skipped)))
        prev = local
        t += step
    return tuple(out)


def reference_between(
    spec: CronSpec, zone: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """All slots in [start, end) by brute force (aware UTC datetimes, sorted)."""
    step = 1 if spec.has_seconds else 60
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    fixed = spec.fixed_time
    found: set[datetime] = set()
    for t, wall, fold, skipped in walk(zone, start_utc, end_utc, step):
        if t >= end_utc:
            break
        if fixed and any(ref_matches(spec, w) for w in skipped):
            found.add(t)
        if ref_matches(spec, wall) and (fold == 0 or not fixed):
            found.add(t)
    return sorted(found)


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every instant in [start, end) where the zone's UTC offset changes (to the second)."""
    hour = timedelta(hours=1)
    t = start
    offset = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + hour
        new = nxt.astimezone(zone).utcoffset()
        if new != offset:
            lo, hi = t, nxt  # offset(lo) == old, offset(hi) == new; narrow to one second
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            yield hi
        offset = new
        t = nxt
