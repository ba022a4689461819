"""The slots of a schedule: the UTC instants at which it fires (SPEC §3, the DST rules).

Contract:
- Slots are computed in the zone's local wall-clock time and returned as aware UTC datetimes
  (`tzinfo=timezone.utc`), strictly increasing, without duplicates. `after`, `start`, `end` and
  `now` are aware datetimes in any zone; naive ones raise `ValueError`.
- Spring-forward gap (a wall time that does not exist): a *fixed-time* slot in the gap fires
  once, at the transition instant (the first instant after the gap); several such slots and a
  regular slot at that instant collapse into one fire. The slot still belongs to the day of
  its skipped wall time (for day-of-month/week). *Interval* schedules have no slots in the gap.
  A skipped day (Pacific/Apia 2011-12-30) is one long gap under the same rule.
- Fall-back overlap (a wall time that occurs twice): a fixed-time slot fires once, at the first
  occurrence; an interval schedule fires in both passes.
- Horizon: iteration stops when no day of the schedule is found within `HORIZON_DAYS` (about
  five years) after the previous slot (or after `after`), so an expression that cannot fire
  (`0 0 30 2 *`) ends instead of looping; `next_slot` then answers None. A leap-day schedule
  therefore ends before the 8-year gap around 2100. `after` and `start` must lie in the years
  2-9997 (ValueError otherwise); no slot after the year 9998 is produced.

How: candidate wall times come in increasing order from `wall_times` (day by day, jumping
over months and days that cannot match). Each is resolved with zoneinfo (fold 0 and fold 1
offsets tell normal / gap / overlap). Resolved instants are almost sorted: only second-pass
instants of an overlap come late, so they wait in a small heap until a later candidate's lower
bound proves nothing earlier can still come. Pure: no clock, no I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from app.domain.cron import CronSpec
from app.domain.describe import MONTH_NAMES
from app.domain.wall_times import HORIZON_DAYS, wall_times
from app.errors import NeverFires

__all__ = [
    "HORIZON_DAYS",
    "ensure_fires",
    "iter_slots",
    "next_slot",
    "next_slots",
    "slots_between",
]

_FIRST_YEAR, _LAST_YEAR = 2, 9997  # room for a day of arithmetic either side of datetime's range
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)


def iter_slots(spec: CronSpec, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every slot strictly after `after`, in order, until the horizon (see module docstring)."""
    after_utc = _naive_utc(after, "after", bounded=True)
    return _slots(spec, zone, after_utc)


def next_slot(spec: CronSpec, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first slot strictly after `after`, or None if there is none within the horizon."""
    return next(iter_slots(spec, zone, after), None)


def next_slots(spec: CronSpec, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The first `count` slots strictly after `after` (fewer if the horizon ends them)."""
    if count < 0:
        raise ValueError("count must not be negative")
    return list(islice(iter_slots(spec, zone, after), count))


def slots_between(
    spec: CronSpec,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    limit: int | None = None,
) -> list[datetime]:
    """The slots in [start, end), at most `limit` of them (the earliest)."""
    start_utc = _naive_utc(start, "start", bounded=True)
    end_utc = _naive_utc(end, "end")
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    found: list[datetime] = []
    if limit == 0 or end_utc <= start_utc:
        return found
    # Slots are whole seconds and datetimes have microsecond resolution, so "after start - 1µs"
    # is exactly "at or after start".
    for slot in _slots(spec, zone, start_utc - _MICROSECOND):
        if slot.replace(tzinfo=None) >= end_utc:
            break
        found.append(slot)
        if limit is not None and len(found) >= limit:
            break
    return found


def ensure_fires(spec: CronSpec, zone: ZoneInfo, now: datetime) -> None:
    """Raise `NeverFires` if `spec` has no slot within the horizon after `now`, with the reason."""
    if next_slot(spec, zone, now) is not None:
        return
    reason = _structural_reason(spec)
    raise NeverFires(f"never fires: {reason}" if reason else "never fires within 5 years")


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # longest, leap years included


def _structural_reason(spec: CronSpec) -> str | None:
    """Why the months chosen never have the days chosen ("February has no day 30"), if so."""
    if spec.dom_restricted and spec.dow_restricted:
        return None  # Vixie OR: the day-of-week alone gives days
    months = sorted(spec.months)
    if any(day <= _MONTH_DAYS[m - 1] for m in months for day in spec.days_of_month):
        return None
    days = sorted(spec.days_of_month)
    day_text = " or ".join(str(d) for d in days)  # at most 30 and 31: no month lacks more
    names = [MONTH_NAMES[m - 1] for m in months]
    if len(names) == 1:
        return f"{names[0]} has no day {day_text}"
    return f"{', '.join(names[:-1])} and {names[-1]} have no day {day_text}"


def _naive_utc(moment: datetime, name: str, *, bounded: bool = False) -> datetime:
    """`moment` as naive UTC; ValueError if naive (or, if `bounded`, outside years 2-9997)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone)")
    try:
        utc = moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(f"{name} is out of range") from None
    if bounded and not _FIRST_YEAR <= utc.year <= _LAST_YEAR:
        raise ValueError(f"{name} must be between the years {_FIRST_YEAR} and {_LAST_YEAR}")
    return utc


def _slots(spec: CronSpec, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The slot generator; `after` is naive UTC (as are instants until they are yielded)."""
    local = after.replace(tzinfo=UTC).astimezone(zone)
    start = local.replace(tzinfo=None, fold=0, microsecond=0)
    instants = _resolved(spec, zone, start)
    if local.fold == 0 and not spec.fixed_time:
        # In the first pass of an overlap, the second pass of the wall times already passed is
        # still ahead (interval schedules fire in both passes): merge it in.
        earlier = _second_pass_before(spec, zone, start)
        if earlier is not None:
            instants = heapq.merge(instants, earlier)
    last = after
    for instant in instants:
        if instant > last:  # strictly after `after`, and collapses equal instants
            last = instant
            yield instant.replace(tzinfo=UTC)


def _resolved(spec: CronSpec, zone: ZoneInfo, start: datetime) -> Iterator[datetime]:
    """The instants of the wall times >= `start` under the DST rules, sorted (naive UTC)."""
    fixed = spec.fixed_time
    pending: list[datetime] = []
    gap: datetime | None = None  # the transition instant of the last gap met
    for wall in wall_times(spec, start):
        off0 = zone.utcoffset(wall)
        off1 = zone.utcoffset(wall.replace(fold=1))
        if off0 is None or off1 is None:
            raise ValueError(f"{zone!r} gives no UTC offset for {wall}")
        # Nothing from this wall time or a later one can be earlier than `bound`; only the
        # second pass of an overlap comes out of order, so `pending` stays small.
        bound = wall - max(off0, off1)
        while pending and pending[0] < bound:
            yield heapq.heappop(pending)
        if off0 == off1:  # an ordinary wall time
            heapq.heappush(pending, wall - off0)
        elif off0 > off1:  # fall-back overlap: first pass (fold 0), then second pass (fold 1)
            heapq.heappush(pending, wall - off0)
            if not fixed:
                heapq.heappush(pending, wall - off1)
        elif fixed:  # spring-forward gap: fires at the transition instant
            low, high = wall - off1, wall - off0
            if gap is None or not low < gap <= high:  # one bisection per gap, not per wall
                gap = _transition(zone, low, high, off0)
            heapq.heappush(pending, gap)
    while pending:
        yield heapq.heappop(pending)


def _second_pass_before(
    spec: CronSpec, zone: ZoneInfo, start: datetime
) -> Iterator[datetime] | None:
    """Second-pass instants of the overlap's wall times before `start`, if `start` is in one."""
    off0 = zone.utcoffset(start)
    off1 = zone.utcoffset(start.replace(fold=1))
    if off0 is None or off1 is None or off0 <= off1:
        return None
    transition = _transition(zone, start - off0, start - off1, off0)
    return _second_pass(spec, transition + off1, start, off1)


def _second_pass(
    spec: CronSpec, first: datetime, stop: datetime, offset: timedelta
) -> Iterator[datetime]:
    for wall in wall_times(spec, first):
        if wall >= stop:
            return
        yield wall - offset


def _transition(zone: ZoneInfo, low: datetime, high: datetime, before: timedelta) -> datetime:
    """The instant in (low, high] (naive UTC, whole seconds) where the offset leaves `before`."""
    # Bisection over whole seconds: tzdata transitions fall on whole seconds.
    steps = int((high - low) / _SECOND)
    lo, hi = 0, steps  # offset(low + lo s) == before, offset(low + hi s) != before
    while hi - lo > 1:
        mid = (lo + hi) // 2
        moment = (low + mid * _SECOND).replace(tzinfo=UTC)
        if moment.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return low + hi * _SECOND
