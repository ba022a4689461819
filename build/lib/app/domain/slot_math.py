"""Counting slots and finding the last slot before an instant, fast over long ranges.

The dispatcher needs both after an outage: how many slots were missed (a week of an
every-second schedule is 604,800 slots: far too many to iterate) and which misfired slot is the
latest (policy `fire_once`). Both work one local day at a time:

- On a *regular* day (the zone's UTC offset is the same from a day before to a day after), local
  wall time is UTC plus a constant, so slots are exactly the day's matching times of day. Those
  form the lexicographic product hours × minutes × seconds: counting the ones below a time of
  day, and picking the k-th, are O(log n) arithmetic.
- Around a transition, the day is iterated with `slots_between`, the one implementation of the
  DST rules, so gap fires and repeated hours are counted exactly as they fire.

Days are delimited by `_day_start` (local midnight, fold 0, as a UTC instant): consecutive days
tile the UTC line, so every slot is counted in exactly one day.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.domain.cron import CronSpec, day_matches
from app.domain.slots import slots_between

_DAY = timedelta(days=1)
_SAMPLE = timedelta(hours=26)


@dataclass(frozen=True, slots=True)
class _TimesOfDay:
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]

    @property
    def per_hour(self) -> int:
        return len(self.minutes) * len(self.seconds)

    @property
    def per_day(self) -> int:
        return len(self.hours) * self.per_hour

    def count_below(self, second_of_day: int) -> int:
        """How many matching times of day are < `second_of_day` (0..86400)."""
        if second_of_day >= 86_400:
            return self.per_day
        hour, rest = divmod(second_of_day, 3600)
        minute, second = divmod(rest, 60)
        below = bisect_left(self.hours, hour) * self.per_hour
        if hour in self.hours:
            below += bisect_left(self.minutes, minute) * len(self.seconds)
            if minute in self.minutes:
                below += bisect_left(self.seconds, second)
        return below

    def nth(self, index: int) -> int:
        """The `index`-th (0-based) matching time of day, in seconds."""
        hour = self.hours[index // self.per_hour]
        minute = self.minutes[(index // len(self.seconds)) % len(self.minutes)]
        second = self.seconds[index % len(self.seconds)]
        return hour * 3600 + minute * 60 + second


@lru_cache(maxsize=4096)
def _times_of_day(spec: CronSpec) -> _TimesOfDay:
    return _TimesOfDay(
        tuple(sorted(spec.hours)), tuple(sorted(spec.minutes)), tuple(sorted(spec.seconds))
    )


def _day_start(zone: ZoneInfo, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _offset_at(zone: ZoneInfo, instant: datetime) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _is_regular(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """No offset change from a day before `start` to a day after `end` (sampled)."""
    offsets = {
        _offset_at(zone, start - _SAMPLE),
        _offset_at(zone, start),
        _offset_at(zone, start + (end - start) / 2),
        _offset_at(zone, end),
        _offset_at(zone, end + _SAMPLE),
    }
    return len(offsets) == 1


def _second_of_day_ceil(zone: ZoneInfo, day: date, instant: datetime) -> int:
    """The first whole second of `day`'s local time that is ≥ `instant`, clamped to 0..86400."""
    local = instant.astimezone(zone).replace(tzinfo=None)
    elapsed = local - datetime.combine(day, time(0))
    whole = int(elapsed.total_seconds())
    if elapsed > timedelta(seconds=whole):
        whole += 1
    return max(0, min(86_400, whole))


def _days(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[date, datetime, datetime]]:
    """(local day, its UTC start, its UTC end) for every day that meets [start, end)."""
    day = start.astimezone(zone).date() - _DAY
    found: list[tuple[date, datetime, datetime]] = []
    while True:
        day_start, day_end = _day_start(zone, day), _day_start(zone, day + _DAY)
        if day_start >= end:
            return found
        if day_end > start and day_end > day_start:
            found.append((day, day_start, day_end))
        day += _DAY


def count_slots(spec: CronSpec, zone: ZoneInfo, start: datetime, end: datetime) -> int:
    """The number of slots in [start, end)."""
    if end <= start:
        return 0
    total = 0
    times = _times_of_day(spec)
    for day, day_start, day_end in _days(zone, start, end):
        low, high = max(start, day_start), min(end, day_end)
        if _is_regular(zone, day_start, day_end):
            if day_matches(spec, day):
                total += times.count_below(_second_of_day_ceil(zone, day, high)) - (
                    times.count_below(_second_of_day_ceil(zone, day, low))
                )
        else:
            total += len(slots_between(spec, zone, low, high))
    return total


def last_slot_before(
    spec: CronSpec, zone: ZoneInfo, before: datetime, floor: datetime
) -> datetime | None:
    """The latest slot in [floor, before), or None."""
    if before <= floor:
        return None
    times = _times_of_day(spec)
    for day, day_start, day_end in reversed(_days(zone, floor, before)):
        low, high = max(floor, day_start), min(before, day_end)
        if _is_regular(zone, day_start, day_end):
            if not day_matches(spec, day):
                continue
            upper = times.count_below(_second_of_day_ceil(zone, day, high))
            if upper > times.count_below(_second_of_day_ceil(zone, day, low)):
                wall = datetime.combine(day, time(0)) + timedelta(seconds=times.nth(upper - 1))
                return wall.replace(tzinfo=zone).astimezone(UTC)
        else:
            found = slots_between(spec, zone, low, high)
            if found:
                return found[-1]
    return None
