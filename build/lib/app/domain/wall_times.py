"""Candidate wall-clock times of a cron spec, in increasing order, with no time zone involved.

Contract: `wall_times(spec, start)` yields every naive wall time >= `start` (whole seconds) that
`cron.matches` accepts, in increasing order, day by day. It jumps over months and days that
cannot match rather than walking minutes, so sparse expressions (`0 0 29 2 *`) cost a few
steps per month. It stops when no matching day exists within `HORIZON_DAYS` after the previous
one (or after `start`), and before the year 9999 (which datetime arithmetic cannot pass).
Pure: no clock, no I/O. `slots` turns these wall times into instants under the DST rules.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from app.domain.cron import CronSpec

# Five years of days, leap days included: "cannot fire within 5 years" means "never" (SPEC §3).
HORIZON_DAYS = 5 * 366
_LAST_YEAR = 9998


@dataclass(frozen=True, slots=True)
class _Plan:
    """The spec's sets as sorted tuples, prepared once per spec."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: frozenset[int]
    vixie_or: bool  # both day fields restricted: a day matches if either matches
    dom_only: bool  # every day of the week allowed, day fields ANDed: only dom days can match


@lru_cache(maxsize=4096)
def _plan(spec: CronSpec) -> _Plan:
    vixie_or = spec.dom_restricted and spec.dow_restricted
    return _Plan(
        seconds=tuple(sorted(spec.seconds)),
        minutes=tuple(sorted(spec.minutes)),
        hours=tuple(sorted(spec.hours)),
        days_of_month=tuple(sorted(spec.days_of_month)),
        months=tuple(sorted(spec.months)),
        days_of_week=spec.days_of_week,
        vixie_or=vixie_or,
        dom_only=not vixie_or and len(spec.days_of_week) == 7,
    )


def matching_days(spec: CronSpec, first: date) -> Iterator[date]:
    """The days >= `first` that the spec fires on (month and the Vixie day rule), in order."""
    plan = _plan(spec)
    limit = first.toordinal() + HORIZON_DAYS
    year, month, day = first.year, first.month, first.day
    while year <= _LAST_YEAR:
        index = bisect_left(plan.months, month)
        if index == len(plan.months):  # no month left this year
            year, month, day = year + 1, plan.months[0], 1
            continue
        if plan.months[index] != month:
            month, day = plan.months[index], 1
        if date(year, month, day).toordinal() > limit:
            return
        for found in _days_in_month(plan, year, month, day):
            if found.toordinal() > limit:
                return
            yield found
            limit = found.toordinal() + HORIZON_DAYS
        year, month, day = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)


def _days_in_month(plan: _Plan, year: int, month: int, first_day: int) -> Iterator[date]:
    length = calendar.monthrange(year, month)[1]
    if plan.dom_only:
        for day in plan.days_of_month[bisect_left(plan.days_of_month, first_day) :]:
            if day > length:
                return
            yield date(year, month, day)
        return
    # Cron weekday of the first candidate (0=Sunday), then step it along with the day.
    weekday = (date(year, month, first_day).weekday() + 1) % 7
    doms, dows = plan.days_of_month, plan.days_of_week
    for day in range(first_day, length + 1):
        dom_ok = day in doms
        dow_ok = weekday in dows
        if (dom_ok or dow_ok) if plan.vixie_or else (dom_ok and dow_ok):
            yield date(year, month, day)
        weekday = (weekday + 1) % 7


def wall_times(spec: CronSpec, start: datetime) -> Iterator[datetime]:
    """Every wall time >= `start` (naive) that matches the spec, in increasing order."""
    plan = _plan(spec)
    first = start.date()
    seconds, minutes, hours = plan.seconds, plan.minutes, plan.hours
    for day in matching_days(spec, first):
        y, mo, d = day.year, day.month, day.day
        if day == first:
            yield from _times_from(plan, day, start)
            continue
        for h in hours:
            for m in minutes:
                for s in seconds:
                    yield datetime(y, mo, d, h, m, s)  # noqa: DTZ001  (naive wall time)


def _times_from(plan: _Plan, day: date, start: datetime) -> Iterator[datetime]:
    """The day's matching wall times at or after `start`'s time of day (bisect, not a walk)."""
    y, mo, d = day.year, day.month, day.day
    h0, m0, s0 = start.hour, start.minute, start.second
    if start.microsecond:
        s0 += 1  # whole-second wall times only: the one at s0 is before `start`
    hours, minutes, seconds = plan.hours, plan.minutes, plan.seconds
    for h in hours[bisect_left(hours, h0) :]:
        for m in minutes[bisect_left(minutes, m0) if h == h0 else 0 :]:
            first_second = bisect_left(seconds, s0) if (h == h0 and m == m0) else 0
            for s in seconds[first_second:]:
                yield datetime(y, mo, d, h, m, s)  # noqa: DTZ001  (naive wall time)
