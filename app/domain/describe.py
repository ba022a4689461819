"""Human words for a cron spec: "Every 5 minutes", "At 09:00, Monday through Friday".

Contract: `describe(spec)` returns one English sentence (no final period) built from the
spec's value sets, so `*/5` and `0-59/5` read the same. Common shapes get short phrases
("Every hour", "At 00:00 on day 1 of the month"); anything else gets a generic but complete
phrasing ("At minutes 0 and 20 past hours 9 through 17 on day 1 of the month or on Monday").
Times are 24-hour wall-clock times in the schedule's own zone. It never raises: a spec it
cannot phrase gets "Cron schedule '<expression>'".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from app.domain.cron import CronSpec

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
"""English month names, January first: the descriptions and the reasons a cron never fires."""
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MAX_TIMES = 6  # list at most this many clock times ("At 09:00 and 17:30"), else go generic
_UNITS = (("second", 59), ("minute", 59), ("hour", 23))


def describe(spec: CronSpec) -> str:
    """One sentence describing when `spec` fires (never raises)."""
    try:
        return _describe(spec)
    except Exception:  # a description must never break a response
        return f"Cron schedule '{spec.expression}'"


def _describe(spec: CronSpec) -> str:
    s, m, h = sorted(spec.seconds), sorted(spec.minutes), sorted(spec.hours)
    days, months = _days(spec), _months(spec)
    if len(s) == 1 and len(m) < 60 and len(h) < 24 and len(m) * len(h) <= _MAX_TIMES:
        text = "At " + _join(_clock(hh, mm, s[0]) for hh in h for mm in m)
        if not days and not months.startswith("on "):
            text += " every day"  # "At 09:00 every day", "At 09:00 every day in January"
    else:
        text = _time_of_day(s, m, h)
    for index, piece in enumerate(p for p in (days, months) if p):
        # "At 09:00 on Monday", but "Every 5 minutes, between 09:00 and 17:59, on day 1 ..."
        first_on = index == 0 and piece.startswith(("on ", "in ")) and ", " not in text
        text += (" " if first_on else ", ") + piece
    return text


# --- time of day -------------------------------------------------------------------------


def _time_of_day(s: list[int], m: list[int], h: list[int]) -> str:
    """Finest interesting unit first ("every 5 minutes", "at minute 15"), then coarser ones."""
    units = [s, m, h] if s != [0] else [m, h]
    names = _UNITS if s != [0] else _UNITS[1:]
    finest, (unit, high) = units[0], names[0]
    step = _step(finest, high)
    if finest == [0] and unit == "minute" and _step(h, 23):
        hours = _step(h, 23)
        return "Every hour" if hours == 1 else f"Every {hours} hours"
    if finest == [0] and unit == "minute" and len(h) > 1 and h == list(range(h[0], h[-1] + 1)):
        return f"Every hour from {_clock(h[0], 0)} through {_clock(h[-1], 0)}"
    if step:
        text = f"Every {unit}" if step == 1 else f"Every {step} {unit}s"
    elif progression := _progression(finest):
        every, first, last = progression
        text = f"Every {every} {unit}s from {unit} {first} through {last}"
    else:
        text = f"At {_plural(unit, finest)} {_values(finest, str)}"
    # "past" chains while every unit so far is a fixed value ("at second 5 past minute 10 past
    # hour 9"); after a repeating unit, restrictions read "during" ("every second during ...").
    anchored, first_coarser = not step and not _progression(finest), True
    for values, (name, top) in zip(units[1:], names[1:], strict=True):
        text += _coarser(values, name, top, anchored=anchored, first=first_coarser)
        anchored = anchored and _step(values, top) is None and not _progression(values)
        first_coarser = False
    return text


def _coarser(values: list[int], unit: str, high: int, *, anchored: bool, first: bool) -> str:
    step = _step(values, high)
    linker = " past" if anchored else " during"
    if step == 1:
        return f" past every {unit}" if anchored and first else ""
    if step:
        return f"{linker} every {_ordinal(step)} {unit}"
    progression = _progression(values)
    if progression:
        every, low, top = progression
        return f"{linker} every {_ordinal(every)} {unit} from {low} through {top}"
    if not anchored and unit == "hour" and values == list(range(values[0], values[-1] + 1)):
        return f", between {_clock(values[0], 0)} and {_clock(values[-1], 59)}"
    return f"{linker} {_plural(unit, values)} {_values(values, str)}"


def _progression(values: Sequence[int]) -> tuple[int, int, int] | None:
    """(step, first, last) for a long arithmetic run like 3, 7, 11 ... 59 (`3/4`), else None."""
    if len(values) < 5:
        return None
    step = values[1] - values[0]
    if step < 2 or list(values) != list(range(values[0], values[-1] + 1, step)):
        return None
    return step, values[0], values[-1]


# --- days ----------------------------------------------------------------------------------


def _days(spec: CronSpec) -> str:
    """The day part: "on day 1 of the month", "Monday through Friday", "" for every day."""
    dom, dow = sorted(spec.days_of_month), sorted(spec.days_of_week)
    dom_text = "" if len(dom) == 31 else _days_of_month(dom)
    dow_text = "" if len(dow) == 7 else _weekdays(dow)
    if len(dom) == 1 and len(spec.months) == 1 and not dow_text:
        return ""  # said by _months: "on January 1"
    if dom_text and dow_text:
        either = _weekdays(dow, last=" or ")  # "Sunday or Monday": a day is one or the other
        if spec.dom_restricted and spec.dow_restricted:  # the Vixie OR rule
            return f"{dom_text} or {_on(either)}"
        return f"{dom_text}, if it falls on {either}"
    if dom_text or not dow_text:
        return dom_text
    return dow_text if " through " in dow_text and "," not in dow_text else _on(dow_text)


def _days_of_month(dom: list[int]) -> str:
    step = _step(dom, 31, low=1)
    if step and step > 1:
        return f"on every {_ordinal(step)} day of the month"
    return f"on {_plural('day', dom)} {_values(dom, str)} of the month"


def _weekdays(dow: list[int], *, last: str = " and ") -> str:
    # Monday first reads naturally ("Friday through Sunday"), unless Sunday starts a run.
    order = [0, 1, 2, 3, 4, 5, 6] if 0 in dow and 6 not in dow else [1, 2, 3, 4, 5, 6, 0]
    return _values(sorted(order.index(d) for d in dow), lambda i: _DAYS[order[i]], last=last)


def _months(spec: CronSpec) -> str:
    months = sorted(spec.months)
    dom = sorted(spec.days_of_month)
    if len(dom) == 1 and len(months) == 1 and len(spec.days_of_week) == 7:
        return f"on {MONTH_NAMES[months[0] - 1]} {dom[0]}"
    if len(months) == 12:
        return ""
    return "in " + _values(months, lambda n: MONTH_NAMES[n - 1])


def _on(text: str) -> str:
    return text if text.startswith("on ") else f"on {text}"


# --- helpers -------------------------------------------------------------------------------


def _step(values: Sequence[int], high: int, *, low: int = 0) -> int | None:
    """s when `values` is exactly low, low+s, low+2s ... up to high (`*/s`), else None."""
    if len(values) < 2 or values[0] != low:
        return None
    step = values[1] - values[0]
    return step if list(values) == list(range(low, high + 1, step)) else None


def _values(values: Iterable[int], name: Callable[[int], str], *, last: str = " and ") -> str:
    """A list in words: "1, 5 and 9", "9 through 17", or mixed: "0 through 10, 20 and 30"."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    items: list[str] = []
    for run in runs:
        if len(run) >= 3:
            items.append(f"{name(run[0])} through {name(run[-1])}")
        else:
            items.extend(name(v) for v in run)
    return _join(items, last=last)


def _join(items: Iterable[str], *, last: str = " and ") -> str:
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + last + words[-1]


def _plural(word: str, values: Sequence[int]) -> str:
    return word if len(values) == 1 else word + "s"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _clock(hour: int, minute: int, second: int = 0) -> str:
    return f"{hour:02}:{minute:02}" + (f":{second:02}" if second else "")
