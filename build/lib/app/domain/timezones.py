"""Time-zone names (SPEC §3): which are valid, and loading them from the bundled `tzdata`.

Contract:
- A valid name is an IANA key listed by the `tzdata` package this project pins (`UTC`,
  `Europe/Berlin`, the `Etc/GMT±N` and legacy link names such as `US/Eastern`), spelled exactly.
  Not valid: paths, offsets (`UTC+5`, `+05:00`), `localtime`, `posixrules`, `posix/…`,
  `right/…`, `Factory` (tzdata's placeholder for "zone not set"), the empty string, and names
  with surrounding spaces. `load_zone` raises `UnknownTimezone` for those, suggesting a close
  valid name when there is one.
- Zones are read from the `tzdata` package, never from the operating system's zoneinfo
  directory: the same rules on every machine, whatever its OS packages say (they differ: e.g.
  America/Havana, America/Vancouver). Always obtain zones through `load_zone`.

Reading a bundled data file is the only I/O here; each zone is read once and cached.
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from app.errors import UnknownTimezone

# tzdata's "zone not set" placeholder: valid for zoneinfo, meaningless for a schedule.
_EXCLUDED = frozenset({"Factory"})
_OFFSET = re.compile(r"(?i)^(?:utc|gmt|z)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$")
_MAX_SHOWN = 64


class _BundledZone(ZoneInfo):
    """A ZoneInfo read from the bundled tzdata, which pickles and copies by its key."""

    def __reduce__(self) -> tuple[Any, ...]:
        # ZoneInfo.from_file instances refuse to pickle; re-loading by key is exact here.
        return (load_zone, (self.key,))


@cache
def _names() -> frozenset[str]:
    listing = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listing.split()) - _EXCLUDED


@cache
def _sorted_names() -> tuple[str, ...]:
    return tuple(sorted(_names()))


@cache
def _by_lower() -> dict[str, str]:
    return {name.lower(): name for name in _names()}


def zone_names() -> list[str]:
    """Every valid zone name, sorted (for a time-zone picker)."""
    return list(_sorted_names())


def load_zone(name: str) -> ZoneInfo:
    """The zone called `name`; raise `UnknownTimezone` (with a suggestion) if it is not valid."""
    if not isinstance(name, str) or name not in _names():
        raise UnknownTimezone(_unknown_message(name))
    return _load(name)


@cache
def _load(name: str) -> ZoneInfo:
    path = resources.files("tzdata").joinpath("zoneinfo", *name.split("/"))
    with path.open("rb") as data:
        return _BundledZone.from_file(data, key=name)


def _unknown_message(name: object) -> str:
    if not isinstance(name, str):
        return "time zone must be a string such as 'Europe/Berlin'"
    if not name.strip():
        return "time zone is empty: use an IANA name such as 'Europe/Berlin' or 'UTC'"
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name[:_MAX_SHOWN])
    shown += "…" if len(name) > _MAX_SHOWN else ""
    head = f"unknown time zone '{shown}'"
    offset = _OFFSET.match(name.strip())
    if offset:
        return f"{head}: {_offset_advice(*offset.groups())}"
    suggestion = _suggest(name)
    if suggestion:
        return f"{head}: did you mean '{suggestion}'?"
    return f"{head}: use an IANA name such as 'Europe/Berlin' or 'America/New_York'"


def _offset_advice(sign: str, hours_text: str, minutes_text: str | None) -> str:
    advice = "a UTC offset is not a time zone; use a place name such as 'Europe/Berlin'"
    hours, minutes = int(hours_text), int(minutes_text or 0)
    if minutes == 0 and hours == 0:
        return f"{advice}, or 'UTC'"
    # POSIX-style Etc names invert the sign: Etc/GMT-5 is UTC+05:00.
    etc = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    if minutes == 0 and etc in _names():
        fixed = f"UTC{sign}{hours:02}:00"
        return f"{advice} (it follows daylight saving), or '{etc}' for a fixed {fixed}"
    return advice


def _suggest(name: str) -> str | None:
    """A close valid name: same name in other letter case or without spaces, else by spelling."""
    if len(name) > 2 * _MAX_SHOWN:
        return None
    cleaned = name.strip().replace(" ", "_")
    if cleaned in _names():
        return cleaned
    lowered = _by_lower()
    if cleaned.lower() in lowered:
        return lowered[cleaned.lower()]
    close = difflib.get_close_matches(cleaned.lower(), lowered.keys(), n=1, cutoff=0.8)
    return lowered[close[0]] if close else None
