"""One cron field, parsed: the item grammar and its error messages (SPEC §3).

A field is a comma list of items: `*`, `*/s`, `v`, `a-b`, `a-b/s` and `v/s` (meaning `v-max/s`).
Values are ASCII digits, or names (`JAN`-`DEC`, `SUN`-`SAT`, any letter case) in the month and
day-of-week fields. Steps are ASCII digits >= 1. Every error names the field and the reason, e.g.
"minute: 60 is out of range 0-59"; `parse_field` raises `InvalidCron` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import InvalidCron

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True, slots=True)
class FieldDef:
    """Name (as used in messages), bounds, and the names accepted for values."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_kind: str = ""  # "month" / "day": completes "is not a number or a ... name"


SECOND = FieldDef("second", 0, 59)
MINUTE = FieldDef("minute", 0, 59)
HOUR = FieldDef("hour", 0, 23)
DAY_OF_MONTH = FieldDef("day-of-month", 1, 31)
MONTH = FieldDef("month", 1, 12, _MONTH_NAMES, "month")
# 7 is accepted as a second Sunday and folded to 0 once the field is expanded.
DAY_OF_WEEK = FieldDef("day-of-week", 0, 7, _DAY_NAMES, "day")


def parse_field(text: str, field: FieldDef) -> frozenset[int]:
    """Expand one field's text to the set of values it selects (day-of-week 7 folded to 0)."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise InvalidCron(f"{field.name}: empty item in list '{text}'")
        values.update(_parse_item(item, field))
    if field is DAY_OF_WEEK and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def _parse_item(item: str, field: FieldDef) -> range:
    _reject_extensions(item, field)
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        step = _parse_step(step_text, item, field)
    if not base:
        raise InvalidCron(f"{field.name}: '{item}' has no value before '/'")
    if base == "*":
        return range(field.low, field.high + 1, step)
    if "*" in base:
        raise InvalidCron(f"{field.name}: '*' cannot be combined with values in '{item}'")
    first_text, dash, last_text = base.partition("-")
    if dash and ("-" in last_text or not first_text or not last_text):
        raise InvalidCron(f"{field.name}: '{base}' is not a valid range (write it as a-b)")
    first = _parse_value(first_text, field)
    if not dash:
        # `v/s` means `v-max/s`; a lone `v` is just v.
        return range(first, (field.high if slash else first) + 1, step)
    last = _parse_value(last_text, field)
    if first > last:
        hint = "the start must not be after the end"
        if field is DAY_OF_WEEK and last == 0:
            hint += "; Sunday can be written 7 to end a range, as in 5-7"
        raise InvalidCron(f"{field.name}: range {base} is reversed ({hint})")
    return range(first, last + 1, step)


def _parse_step(text: str, item: str, field: FieldDef) -> int:
    if not text:
        raise InvalidCron(f"{field.name}: '{item}' has no step after '/'")
    if not _is_ascii_number(text):
        raise InvalidCron(f"{field.name}: step '{text}' is not a number")
    step = int(text)
    if step < 1:
        raise InvalidCron(f"{field.name}: step must be at least 1")
    return step


def _parse_value(text: str, field: FieldDef) -> int:
    if _is_ascii_number(text):
        value = int(text)
        if not field.low <= value <= field.high:
            raise InvalidCron(f"{field.name}: {value} is out of range {field.low}-{field.high}")
        return value
    upper = text.upper()
    if field.names and upper in field.names:
        return field.names.index(upper) + (1 if field is MONTH else 0)
    kind = f" or a {field.name_kind} name" if field.name_kind else ""
    raise InvalidCron(f"{field.name}: '{text}' is not a number{kind}")


def _is_ascii_number(text: str) -> bool:
    # str.isdigit() alone accepts '٣' and '²'; int() alone accepts '+5', ' 5' and '1_0'.
    return text.isascii() and text.isdigit()


def _reject_extensions(item: str, field: FieldDef) -> None:
    """Name the Quartz/Jenkins extensions people paste, rather than "not a number"."""
    upper = item.upper()
    if "?" in upper:
        reason = "'?' is not supported (use '*')"
    elif "#" in upper:
        reason = "'#' (nth weekday of the month) is not supported"
    elif upper == "H" or upper.startswith(("H/", "H(")):
        reason = "'H' (hashed values) is not supported"
    elif upper in ("L", "LW") or (upper.endswith(("L", "W")) and _is_ascii_number(upper[:-1])):
        reason = f"'{item}' (last day / nearest weekday) is not supported"
    else:
        return
    raise InvalidCron(f"{field.name}: {reason}")
