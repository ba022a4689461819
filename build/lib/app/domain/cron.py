"""The cron dialect of SPEC §3: parse and validate an expression, and match wall-clock times.

Contract:
- `parse_cron(text)` accepts 5 fields `minute hour day-of-month month day-of-week`, or 6 with
  the SECONDS FIRST (`second minute hour day-of-month month day-of-week`), separated by any run
  of spaces or tabs (leading and trailing spaces and tabs are ignored), at most 200 characters,
  or one of the lower-case macros `@yearly @annually @monthly @weekly @daily @midnight @hourly`.
  Anything else raises `InvalidCron` with a message naming the field and the reason.
- `CronSpec` holds the expanded value sets; day-of-week is 0=Sunday..6=Saturday (7 folded to 0).
- A field that starts with `*` is unrestricted (Vixie cron): when day-of-month and day-of-week
  are both restricted a day matches if EITHER matches, otherwise it must match both sets.
- A spec is *fixed-time* when neither its minute nor its hour field text contains `*` or `/`
  (`@hourly` is interval, the other macros fixed-time); this selects the DST rules in `slots`.

Pure: no clock, no I/O. Parsing is cached because the dispatcher re-reads the same expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from app.domain.cron_fields import (
    DAY_OF_MONTH,
    DAY_OF_WEEK,
    HOUR,
    MINUTE,
    MONTH,
    SECOND,
    parse_field,
)
from app.errors import InvalidCron

MAX_LENGTH = 200

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_SEPARATORS = re.compile(r"[ \t]+")


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A parsed cron expression: the value set of every field, plus how to read them."""

    expression: str  # the original text, stripped
    seconds: frozenset[int]  # {0} when the expression has 5 fields
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0=Sunday..6=Saturday
    dom_restricted: bool  # the day-of-month field does not start with '*'
    dow_restricted: bool  # the day-of-week field does not start with '*'
    has_seconds: bool  # the 6-field form
    fixed_time: bool  # neither minute nor hour text contains '*' or '/'


def parse_cron(expression: str) -> CronSpec:
    """Parse and validate `expression`; raise `InvalidCron` naming the field and the reason."""
    if not isinstance(expression, str):
        raise InvalidCron("expression must be a string")
    return _parse(expression)


@lru_cache(maxsize=4096)
def _parse(expression: str) -> CronSpec:
    text = expression.strip(" \t")
    if len(text) > MAX_LENGTH:
        raise InvalidCron(f"expression is longer than {MAX_LENGTH} characters")
    if not text:
        raise InvalidCron("expression is empty")
    odd_space = next((c for c in text if c.isspace() and c not in " \t"), None)
    if odd_space is not None:
        raise InvalidCron(
            f"unexpected character {odd_space!r}: separate fields with spaces or tabs"
        )
    fields = _SEPARATORS.split(text)
    if text.startswith("@"):
        return _parse_macro(text, fields)
    if len(fields) not in (5, 6):
        raise InvalidCron(f"expected 5 or 6 fields (seconds first), got {len(fields)}")
    has_seconds = len(fields) == 6
    if not has_seconds:
        fields = ["0", *fields]
    return _build(text, fields, has_seconds)


def _parse_macro(text: str, fields: list[str]) -> CronSpec:
    name = fields[0]
    if name in MACROS and len(fields) == 1:
        return _build(text, ["0", *MACROS[name].split()], has_seconds=False)
    if name.lower() in MACROS and len(fields) == 1:
        raise InvalidCron(f"'{name}' is not supported: macros are lower case ('{name.lower()}')")
    if name in MACROS:
        raise InvalidCron(f"'{name}' takes no fields after it")
    raise InvalidCron(f"'{name}' is not supported (macros: {', '.join(MACROS)})")


def _build(text: str, fields: list[str], has_seconds: bool) -> CronSpec:
    sec, minute, hour, dom, month, dow = fields
    return CronSpec(
        expression=text,
        seconds=parse_field(sec, SECOND),
        minutes=parse_field(minute, MINUTE),
        hours=parse_field(hour, HOUR),
        days_of_month=parse_field(dom, DAY_OF_MONTH),
        months=parse_field(month, MONTH),
        days_of_week=parse_field(dow, DAY_OF_WEEK),
        dom_restricted=not dom.startswith("*"),
        dow_restricted=not dow.startswith("*"),
        has_seconds=has_seconds,
        fixed_time=not any(c in minute + hour for c in "*/"),
    )


def cron_weekday(day: date) -> int:
    """Cron's day of the week: 0=Sunday..6=Saturday (Python's weekday() starts on Monday)."""
    return (day.weekday() + 1) % 7


def day_matches(spec: CronSpec, day: date) -> bool:
    """Whether `day` is a day of the schedule (month, then the Vixie day-of-month/week rule)."""
    if day.month not in spec.months:
        return False
    dom_ok = day.day in spec.days_of_month
    dow_ok = cron_weekday(day) in spec.days_of_week
    if spec.dom_restricted and spec.dow_restricted:
        return dom_ok or dow_ok
    return dom_ok and dow_ok


def matches(spec: CronSpec, wall: datetime) -> bool:
    """Whether the wall-clock time `wall` (naive, local; microseconds ignored) is in the spec."""
    return (
        wall.second in spec.seconds
        and wall.minute in spec.minutes
        and wall.hour in spec.hours
        and day_matches(spec, wall.date())
    )
