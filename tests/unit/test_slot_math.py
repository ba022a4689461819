"""count_slots and last_slot_before agree with plain iteration, DST days included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.cron import parse_cron
from app.domain.slot_math import count_slots, last_slot_before
from app.domain.slots import slots_between

EXPRESSIONS = [
    "*/15 * * * *",
    "30 2 * * *",
    "0,30 1,2 * * *",
    "*/20 * * * * *",
    "0 0 29 2 *",
    "0 9 * * 1-5",
    "15 */3 13 * 5",
    "5 4 * * *",
    "0 * * * *",
    "*/7 3 * * *",
]
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Apia",
    "Asia/Kathmandu",
    "Pacific/Chatham",
]


@settings(max_examples=150, deadline=None)
@given(
    expression=st.sampled_from(EXPRESSIONS),
    zone_name=st.sampled_from(ZONES),
    start_minutes=st.integers(0, 3 * 365 * 24 * 60),
    span_minutes=st.integers(0, 6 * 24 * 60),
    offset_seconds=st.integers(0, 59),
)
def test_agree_with_iteration(
    expression: str, zone_name: str, start_minutes: int, span_minutes: int, offset_seconds: int
) -> None:
    spec, zone = parse_cron(expression), ZoneInfo(zone_name)
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        minutes=start_minutes, seconds=offset_seconds
    )
    end = start + timedelta(minutes=span_minutes)
    expected = slots_between(spec, zone, start, end)
    assert count_slots(spec, zone, start, end) == len(expected)
    assert last_slot_before(spec, zone, end, start) == (expected[-1] if expected else None)


def test_transition_days_exactly() -> None:
    new_york = ZoneInfo("America/New_York")
    spring = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # local midnight of the 23-hour day
    assert (
        count_slots(parse_cron("*/15 * * * *"), new_york, spring, spring + timedelta(hours=23))
        == 92
    )
    fall = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert (
        count_slots(parse_cron("*/15 * * * *"), new_york, fall, fall + timedelta(hours=25)) == 100
    )
    apia = ZoneInfo("Pacific/Apia")
    start, end = datetime(2011, 12, 28, tzinfo=UTC), datetime(2012, 1, 3, tzinfo=UTC)
    spec = parse_cron("0 12 * * *")
    assert count_slots(spec, apia, start, end) == len(slots_between(spec, apia, start, end))


def test_a_week_of_every_second_is_fast_and_exact() -> None:
    spec, zone = parse_cron("* * * * * *"), ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 25, 0, 0, 0, 500_000, tzinfo=UTC)
    end = start + timedelta(days=7)
    # Every UTC second is some wall second, so the 23-hour day (29 March) changes nothing.
    assert count_slots(spec, zone, start, end) == 7 * 86_400
    last = last_slot_before(spec, zone, end, start)
    assert last == datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)
