"""The DST table of SPEC §3: gaps, overlaps, 23/25-hour days, odd offsets, a skipped day.

Expected instants are written out by hand (UTC, with the local wall time in a comment), from
the transitions of the bundled tzdata (2026f). Dates in 2026 unless said otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.domain.cron import parse_cron
from app.domain.slots import (
    ensure_fires,
    iter_slots,
    next_slot,
    next_slots,
    slots_between,
)
from app.domain.timezones import load_zone
from app.errors import NeverFires


def utc(text: str) -> datetime:
    """'2026-03-08T07:00:00Z' -> aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def day_slots(expression: str, zone_name: str, day: date) -> list[str]:
    """The slots whose instant falls on the local calendar day `day`, as 'YYYY-MM-DDTHH:MM:SSZ'."""
    zone = load_zone(zone_name)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    slots = slots_between(parse_cron(expression), zone, start, end)
    return [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in slots]


# --- 23-, 24-, 24.5-, 25-hour days: `*/15 * * * *` fires 4 times per hour that exists ---------


@pytest.mark.parametrize(
    ("zone", "day", "count"),
    [
        ("America/New_York", date(2026, 3, 8), 92),
        ("America/New_York", date(2026, 11, 1), 100),
        ("America/New_York", date(2026, 6, 1), 96),
        ("Europe/Berlin", date(2026, 3, 29), 92),
        ("Europe/Berlin", date(2026, 10, 25), 100),
        ("Europe/London", date(2026, 3, 29), 92),
        ("Europe/London", date(2026, 10, 25), 100),
        ("Australia/Sydney", date(2026, 10, 4), 92),
        ("Australia/Sydney", date(2026, 4, 5), 100),
        ("Australia/Lord_Howe", date(2026, 10, 4), 94),  # 23.5 hours
        ("Australia/Lord_Howe", date(2026, 4, 5), 98),  # 24.5 hours
        ("America/Santiago", date(2026, 9, 6), 92),  # the gap is 00:00-01:00
        ("America/Santiago", date(2026, 4, 4), 100),  # 23:00-24:00 happens twice
        ("America/Havana", date(2025, 3, 9), 92),
        ("America/Havana", date(2025, 11, 2), 100),  # 00:00-01:00 happens twice
        ("Asia/Beirut", date(2026, 3, 29), 92),
        ("Asia/Beirut", date(2026, 10, 24), 100),
        ("Pacific/Chatham", date(2026, 9, 27), 92),
        ("Pacific/Chatham", date(2026, 4, 5), 100),
        ("Asia/Kathmandu", date(2026, 3, 29), 96),
        ("America/Sao_Paulo", date(2018, 11, 4), 92),
        ("America/Sao_Paulo", date(2019, 2, 16), 100),
        ("Asia/Tehran", date(2021, 3, 22), 92),
        ("Asia/Tehran", date(2021, 9, 21), 100),
        ("Pacific/Apia", date(2011, 12, 29), 96),
        ("Pacific/Apia", date(2011, 12, 30), 0),  # the day that did not happen
        ("Pacific/Apia", date(2011, 12, 31), 96),
        ("UTC", date(2026, 3, 8), 96),
    ],
)
def test_every_15_minutes_per_local_day(zone: str, day: date, count: int) -> None:
    assert len(day_slots("*/15 * * * *", zone, day)) == count


def test_interval_schedule_skips_the_gap_and_repeats_the_overlap() -> None:
    spring = day_slots("*/15 * * * *", "America/New_York", date(2026, 3, 8))
    assert spring[6:10] == [
        "2026-03-08T06:30:00Z",  # 01:30 EST
        "2026-03-08T06:45:00Z",  # 01:45 EST
        "2026-03-08T07:00:00Z",  # 03:00 EDT
        "2026-03-08T07:15:00Z",  # 03:15 EDT
    ]
    autumn = day_slots("*/30 * * * *", "America/New_York", date(2026, 11, 1))
    assert autumn[2:6] == [
        "2026-11-01T05:00:00Z",  # 01:00 EDT
        "2026-11-01T05:30:00Z",  # 01:30 EDT
        "2026-11-01T06:00:00Z",  # 01:00 EST
        "2026-11-01T06:30:00Z",  # 01:30 EST
    ]


# --- fixed-time schedules: the gap fires once at the transition, the overlap once at first ----


@pytest.mark.parametrize(
    ("zone", "expression", "day", "expected"),
    [
        # spring forward: the skipped wall time fires at the transition instant
        ("America/New_York", "30 2 * * *", date(2026, 3, 8), ["2026-03-08T07:00:00Z"]),
        ("Europe/Berlin", "30 2 * * *", date(2026, 3, 29), ["2026-03-29T01:00:00Z"]),
        ("Europe/London", "30 1 * * *", date(2026, 3, 29), ["2026-03-29T01:00:00Z"]),
        ("Australia/Sydney", "30 2 * * *", date(2026, 10, 4), ["2026-10-03T16:00:00Z"]),
        ("Australia/Lord_Howe", "15 2 * * *", date(2026, 10, 4), ["2026-10-03T15:30:00Z"]),
        ("Australia/Lord_Howe", "30 2 * * *", date(2026, 10, 4), ["2026-10-03T15:30:00Z"]),
        ("Pacific/Chatham", "0 3 * * *", date(2026, 9, 27), ["2026-09-26T14:00:00Z"]),
        ("America/Santiago", "0 0 * * *", date(2026, 9, 6), ["2026-09-06T04:00:00Z"]),
        ("America/Santiago", "30 0 * * *", date(2026, 9, 6), ["2026-09-06T04:00:00Z"]),
        ("America/Havana", "0 0 * * *", date(2025, 3, 9), ["2025-03-09T05:00:00Z"]),
        ("Asia/Beirut", "0 0 * * *", date(2026, 3, 29), ["2026-03-28T22:00:00Z"]),
        ("America/Sao_Paulo", "0 0 * * *", date(2018, 11, 4), ["2018-11-04T03:00:00Z"]),
        ("Asia/Tehran", "30 0 * * *", date(2021, 3, 22), ["2021-03-21T20:30:00Z"]),
        # fall back: the repeated wall time fires once, in the first pass
        ("America/New_York", "30 1 * * *", date(2026, 11, 1), ["2026-11-01T05:30:00Z"]),
        ("Europe/Berlin", "30 2 * * *", date(2026, 10, 25), ["2026-10-25T00:30:00Z"]),
        ("Europe/London", "30 1 * * *", date(2026, 10, 25), ["2026-10-25T00:30:00Z"]),
        ("Australia/Sydney", "30 2 * * *", date(2026, 4, 5), ["2026-04-04T15:30:00Z"]),
        ("Australia/Lord_Howe", "45 1 * * *", date(2026, 4, 5), ["2026-04-04T14:45:00Z"]),
        ("Pacific/Chatham", "0 3 * * *", date(2026, 4, 5), ["2026-04-04T13:15:00Z"]),
        ("America/Santiago", "30 23 * * *", date(2026, 4, 4), ["2026-04-05T02:30:00Z"]),
        ("America/Havana", "30 0 * * *", date(2025, 11, 2), ["2025-11-02T04:30:00Z"]),
        ("Asia/Beirut", "30 23 * * *", date(2026, 10, 24), ["2026-10-24T20:30:00Z"]),
        ("America/Sao_Paulo", "30 23 * * *", date(2019, 2, 16), ["2019-02-17T01:30:00Z"]),
        ("Asia/Tehran", "30 23 * * *", date(2021, 9, 21), ["2021-09-21T19:00:00Z"]),
        # odd offsets, no DST
        ("Asia/Kathmandu", "0 9 * * *", date(2026, 3, 29), ["2026-03-29T03:15:00Z"]),
        ("UTC", "30 2 * * *", date(2026, 3, 8), ["2026-03-08T02:30:00Z"]),
        # several skipped slots and the regular slot at the transition collapse into one
        (
            "America/New_York",
            "0,30 1,2 * * *",
            date(2026, 3, 8),
            ["2026-03-08T06:00:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"],
        ),
        (
            "America/New_York",
            "0,30 1,2 * * *",
            date(2026, 11, 1),
            [
                "2026-11-01T05:00:00Z",  # 01:00 EDT
                "2026-11-01T05:30:00Z",  # 01:30 EDT (not again at 01:30 EST)
                "2026-11-01T07:00:00Z",  # 02:00 EST
                "2026-11-01T07:30:00Z",  # 02:30 EST
            ],
        ),
        (
            "Europe/Berlin",
            "0,15,30,45 2,3 * * *",
            date(2026, 3, 29),
            [
                "2026-03-29T01:00:00Z",  # 02:00-02:45 skipped, and 03:00: one fire
                "2026-03-29T01:15:00Z",
                "2026-03-29T01:30:00Z",
                "2026-03-29T01:45:00Z",
            ],
        ),
        # macros: @hourly is interval (no 02:00 slot), @daily fixed (fires at the transition)
        ("America/Santiago", "@daily", date(2026, 9, 6), ["2026-09-06T04:00:00Z"]),
        ("America/Santiago", "@weekly", date(2026, 9, 6), ["2026-09-06T04:00:00Z"]),  # Sunday
        ("America/Santiago", "@midnight", date(2026, 4, 4), ["2026-04-04T03:00:00Z"]),
    ],
)
def test_fixed_time_table(zone: str, expression: str, day: date, expected: list[str]) -> None:
    assert day_slots(expression, zone, day) == expected


def test_hourly_macro_is_interval() -> None:
    slots = day_slots("@hourly", "America/New_York", date(2026, 3, 8))
    first = utc("2026-03-08T05:00:00Z")  # 00:00 EST; 01:00 EST; then 03:00 EDT, no 02:00
    assert slots == [(first + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(23)]


def test_neighbouring_days_are_regular() -> None:
    zone = load_zone("America/New_York")
    slots = next_slots(parse_cron("30 2 * * *"), zone, utc("2026-03-07T00:00:00Z"), 3)
    assert slots == [
        utc("2026-03-07T07:30:00Z"),  # 02:30 EST
        utc("2026-03-08T07:00:00Z"),  # 02:30 skipped: 03:00 EDT
        utc("2026-03-09T06:30:00Z"),  # 02:30 EDT
    ]


# --- seconds -----------------------------------------------------------------------------------


def test_seconds_field_across_the_gap() -> None:
    zone = load_zone("America/New_York")
    spec = parse_cron("*/20 * * * * *")
    slots = slots_between(spec, zone, utc("2026-03-08T06:59:00Z"), utc("2026-03-08T07:01:00Z"))
    assert [s.strftime("%H:%M:%S") for s in slots] == [
        "06:59:00", "06:59:20", "06:59:40",  # 01:59:xx EST
        "07:00:00", "07:00:20", "07:00:40",  # 03:00:xx EDT
    ]  # fmt: skip
    fixed = parse_cron("15 30 2 * * *")
    assert next_slot(fixed, zone, utc("2026-03-08T00:00:00Z")) == utc("2026-03-08T07:00:00Z")


def test_seconds_field_across_the_overlap() -> None:
    zone = load_zone("America/New_York")
    interval = parse_cron("0 */30 1 * * *")
    assert next_slots(interval, zone, utc("2026-11-01T04:00:00Z"), 4) == [
        utc("2026-11-01T05:00:00Z"),
        utc("2026-11-01T05:30:00Z"),
        utc("2026-11-01T06:00:00Z"),
        utc("2026-11-01T06:30:00Z"),
    ]
    fixed = parse_cron("10 30 1 * * *")
    assert next_slots(fixed, zone, utc("2026-11-01T04:00:00Z"), 2) == [
        utc("2026-11-01T05:30:10Z"),
        utc("2026-11-02T06:30:10Z"),
    ]


# --- starting inside an overlap ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-11-01T05:40:00Z", "2026-11-01T05:45:00Z"),  # first pass 01:40 EDT
        ("2026-11-01T05:50:00Z", "2026-11-01T06:00:00Z"),  # -> second pass 01:00 EST
        ("2026-11-01T05:59:59.999999Z", "2026-11-01T06:00:00Z"),
        ("2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z"),
        ("2026-11-01T06:20:00Z", "2026-11-01T06:30:00Z"),  # second pass 01:20 EST
        ("2026-11-01T06:45:00Z", "2026-11-01T07:00:00Z"),
    ],
)
def test_next_slot_from_inside_the_overlap(after: str, expected: str) -> None:
    zone = load_zone("America/New_York")
    assert next_slot(parse_cron("*/15 * * * *"), zone, utc(after)) == utc(expected)


def test_fixed_time_from_inside_the_overlap() -> None:
    zone = load_zone("America/New_York")
    spec = parse_cron("30 1 * * *")
    assert next_slot(spec, zone, utc("2026-11-01T05:00:00Z")) == utc("2026-11-01T05:30:00Z")
    assert next_slot(spec, zone, utc("2026-11-01T05:30:00Z")) == utc("2026-11-02T06:30:00Z")


# --- Pacific/Apia skipped 2011-12-30 entirely (UTC-10 -> UTC+14 at 2011-12-30T10:00Z) ---------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Dec 29 12:00 (-10), Dec 30 12:00 skipped -> transition, Dec 31 12:00 (+14)
        ("0 12 * * *", ["2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"]),
        # Dec 30 00:00 (skipped) and Dec 31 00:00 (regular) are the same instant: one fire
        ("0 0 * * *", ["2011-12-29T10:00:00Z", "2011-12-30T10:00:00Z", "2011-12-31T10:00:00Z"]),
        # the slot belongs to Dec 30, the skipped day, a Friday
        ("0 12 30 12 *", ["2011-12-30T10:00:00Z", "2012-12-29T22:00:00Z"]),
        ("0 12 * * 5", ["2011-12-23T22:00:00Z", "2011-12-30T10:00:00Z"]),
        ("0 12 * * 6", ["2011-12-24T22:00:00Z", "2011-12-30T22:00:00Z"]),
        # interval: nothing on the skipped day
        ("*/30 * * * *", ["2011-12-30T09:00:00Z", "2011-12-30T09:30:00Z", "2011-12-30T10:00:00Z"]),
    ],
)
def test_apia_skipped_day(expression: str, expected: list[str]) -> None:
    zone = load_zone("Pacific/Apia")
    first = utc(expected[0]) - timedelta(seconds=1)
    assert next_slots(parse_cron(expression), zone, first, len(expected)) == [
        utc(e) for e in expected
    ]


# --- sparse schedules, the Vixie OR rule, the horizon --------------------------------------------


def test_leap_day_jumps_by_years() -> None:
    spec = parse_cron("0 0 29 2 *")
    assert next_slots(spec, load_zone("UTC"), utc("2026-01-01T00:00:00Z"), 3) == [
        utc("2028-02-29T00:00:00Z"),
        utc("2032-02-29T00:00:00Z"),
        utc("2036-02-29T00:00:00Z"),
    ]
    ny = load_zone("America/New_York")
    assert next_slot(spec, ny, utc("2026-01-01T00:00:00Z")) == utc("2028-02-29T05:00:00Z")


def test_horizon_is_about_five_years() -> None:
    # 2100 is not a leap year: from 2097 the next Feb 29 (2104) is beyond the horizon.
    spec = parse_cron("0 0 29 2 *")
    assert next_slot(spec, load_zone("UTC"), utc("2097-01-01T00:00:00Z")) is None
    assert list(iter_slots(spec, load_zone("UTC"), utc("2090-01-01T00:00:00Z"))) == [
        utc("2092-02-29T00:00:00Z"),
        utc("2096-02-29T00:00:00Z"),
    ]


def test_dom_or_dow() -> None:
    spec = parse_cron("0 0 13 * 5")  # the 13th, or any Friday
    assert next_slots(spec, load_zone("UTC"), utc("2026-03-01T00:00:00Z"), 7) == [
        utc("2026-03-06T00:00:00Z"),
        utc("2026-03-13T00:00:00Z"),  # Friday the 13th: once
        utc("2026-03-20T00:00:00Z"),
        utc("2026-03-27T00:00:00Z"),
        utc("2026-04-03T00:00:00Z"),
        utc("2026-04-10T00:00:00Z"),
        utc("2026-04-13T00:00:00Z"),  # a Monday
    ]


def test_weekdays_in_berlin() -> None:
    spec = parse_cron("0 9 * * 1-5")
    # Friday 2026-03-27 09:00 CET is 08:00Z: `after` is exclusive, so next is Monday (CEST).
    slots = next_slots(spec, load_zone("Europe/Berlin"), utc("2026-03-27T08:00:00Z"), 3)
    assert slots == [
        utc("2026-03-30T07:00:00Z"),
        utc("2026-03-31T07:00:00Z"),
        utc("2026-04-01T07:00:00Z"),
    ]


# --- the API: strictness, inputs, limits ----------------------------------------------------------


def test_after_is_exclusive_and_any_zone_is_accepted() -> None:
    spec, zone = parse_cron("0 * * * *"), load_zone("Europe/Berlin")
    assert next_slot(spec, zone, utc("2026-06-01T10:00:00Z")) == utc("2026-06-01T11:00:00Z")
    assert next_slot(spec, zone, utc("2026-06-01T09:59:59.999999Z")) == utc("2026-06-01T10:00:00Z")
    tokyo = timezone(timedelta(hours=9))
    after = datetime(2026, 6, 1, 19, 0, tzinfo=tokyo)  # 10:00Z
    slot = next_slot(spec, zone, after)
    assert slot == utc("2026-06-01T11:00:00Z")
    assert slot is not None and slot.tzinfo is UTC


def test_naive_input_is_refused() -> None:
    spec, zone = parse_cron("* * * * *"), load_zone("UTC")
    naive = datetime(2026, 1, 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        next_slot(spec, zone, naive)
    with pytest.raises(ValueError, match="aware"):
        slots_between(spec, zone, naive, utc("2026-01-02T00:00:00Z"))
    with pytest.raises(ValueError, match="aware"):
        ensure_fires(spec, zone, naive)


def test_out_of_range_instants() -> None:
    spec, zone = parse_cron("0 0 1 1 *"), load_zone("Pacific/Kiritimati")
    with pytest.raises(ValueError, match="between the years"):
        next_slot(spec, zone, datetime.max.replace(tzinfo=UTC))
    with pytest.raises(ValueError, match="between the years"):
        next_slot(spec, zone, datetime.min.replace(tzinfo=UTC))
    # Local New Year 9998 is 9997-12-31T10:00Z; the year 9999 is never reached, no overflow.
    assert list(iter_slots(spec, zone, utc("9996-06-01T00:00:00Z"))) == [
        utc("9996-12-31T10:00:00Z"),
        utc("9997-12-31T10:00:00Z"),
    ]
    # an open end is fine
    end = datetime.max.replace(tzinfo=UTC)
    assert len(slots_between(spec, zone, utc("2026-01-01T00:00:00Z"), end, limit=3)) == 3


def test_slots_between_is_half_open_and_limited() -> None:
    spec, zone = parse_cron("*/10 * * * *"), load_zone("UTC")
    start, end = utc("2026-01-01T00:00:00Z"), utc("2026-01-01T01:00:00Z")
    slots = slots_between(spec, zone, start, end)
    assert slots[0] == start and slots[-1] == utc("2026-01-01T00:50:00Z") and len(slots) == 6
    assert slots_between(spec, zone, start, end, limit=2) == slots[:2]
    assert slots_between(spec, zone, start, end, limit=0) == []
    assert slots_between(spec, zone, end, start) == []
    with pytest.raises(ValueError):
        slots_between(spec, zone, start, end, limit=-1)


def test_next_slots_count() -> None:
    spec, zone = parse_cron("* * * * * *"), load_zone("UTC")
    after = utc("2026-01-01T00:00:00.5Z")
    assert next_slots(spec, zone, after, 0) == []
    assert next_slots(spec, zone, after, 3) == [
        utc("2026-01-01T00:00:01Z"),
        utc("2026-01-01T00:00:02Z"),
        utc("2026-01-01T00:00:03Z"),
    ]
    with pytest.raises(ValueError):
        next_slots(spec, zone, after, -1)


# --- never fires ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 30 2 *", "never fires: February has no day 30"),
        ("0 0 31 2 *", "never fires: February has no day 31"),
        ("0 0 30,31 2 *", "never fires: February has no day 30 or 31"),
        ("0 0 31 4 *", "never fires: April has no day 31"),
        ("0 0 31 2,4,6 *", "never fires: February, April and June have no day 31"),
        ("0 0 31 2 */2", "never fires: February has no day 31"),  # '*/2' keeps the AND rule
        ("0 0 29 2 */7", "never fires within 5 years"),  # Feb 29 on a Sunday: 2032
    ],
)
def test_never_fires(expression: str, message: str) -> None:
    with pytest.raises(NeverFires) as caught:
        ensure_fires(parse_cron(expression), load_zone("UTC"), utc("2026-06-01T00:00:00Z"))
    assert str(caught.value) == message
    assert next_slot(parse_cron(expression), load_zone("UTC"), utc("2026-06-01T00:00:00Z")) is None


@pytest.mark.parametrize(
    "expression", ["0 0 29 2 *", "0 0 30 2 1", "0 0 31 * *", "0 0 29 2 */2", "@yearly"]
)
def test_fires(expression: str) -> None:
    ensure_fires(parse_cron(expression), load_zone("UTC"), utc("2026-06-01T00:00:00Z"))
