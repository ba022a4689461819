"""Slots against the brute-force reference, and properties over random expressions and zones.

1. Generated: every DST transition of 2025-2027 in the zones below (found by scanning UTC
   offsets), for a set of interval and fixed-time expressions, with and without seconds:
   `slots_between` over ±1 day (±1 hour for seconds) equals `cron_reference`.
2. Hypothesis: random valid expressions, zones (odd ones included) and instants (2025-2027 and
   near transitions): results strictly increase, each is a matching wall time (first pass for
   fixed-time) or a gap fire at a transition instant, re-entry from any slot continues the same
   sequence, and a short window agrees with the reference.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.cron import CronSpec, matches, parse_cron
from app.domain.slots import next_slot, next_slots, slots_between
from app.domain.timezones import load_zone
from tests.unit.cron_reference import ref_matches, reference_between, transitions

# Zones with DST transitions in 2025-2027: whole hours, half hours (St_Johns, Adelaide,
# Lord_Howe's 30-minute shift), 45-minute offsets (Chatham), midnight transitions (Santiago,
# Havana, Beirut, Jerusalem, Gaza, Cairo), negative DST (Dublin, Casablanca), a 2-hour shift
# (Troll), southern hemisphere (Sydney, Auckland, Easter).
DST_ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "America/Nuuk",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Chisinau",
    "Asia/Beirut",
    "Asia/Jerusalem",
    "Asia/Gaza",
    "Africa/Cairo",
    "Africa/Casablanca",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "Pacific/Easter",
]
OTHER_ZONES = ["UTC", "Asia/Kathmandu", "Asia/Kolkata", "Asia/Tehran", "Pacific/Kiritimati"]
ALL_ZONES = DST_ZONES + OTHER_ZONES

MINUTE_EXPRESSIONS = [
    "*/15 * * * *",
    "*/7 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0,30 0-3 * * *",
    "0 0 * * *",
    "45 23 * * *",
    "15,45 1-3 * * 0",
    "0 */2 * * 6,0",
    "0 0 13 * 5",
    "@daily",
]
SECOND_EXPRESSIONS = ["*/20 * * * * *", "30 30 2 * * *", "15 0,30 0-3 * * *", "0 */10 * * * *"]

PERIOD = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


@cache
def zone_transitions(name: str) -> tuple[datetime, ...]:
    return tuple(transitions(load_zone(name), *PERIOD))


# --- 1. every transition of 2025-2027, against the reference -----------------------------------


@pytest.mark.parametrize("zone_name", DST_ZONES)
def test_matches_reference_around_every_transition(zone_name: str) -> None:
    zone = load_zone(zone_name)
    found = zone_transitions(zone_name)
    assert len(found) >= 4, "the zone should have DST transitions in 2025-2027"
    for moment in found:
        for expression in MINUTE_EXPRESSIONS:
            _assert_same(expression, zone, moment - timedelta(days=1), moment + timedelta(days=1))
        for expression in SECOND_EXPRESSIONS:
            _assert_same(expression, zone, moment - timedelta(hours=1), moment + timedelta(hours=1))


def test_matches_reference_on_the_skipped_day_of_apia() -> None:
    zone = load_zone("Pacific/Apia")
    moment = datetime(2011, 12, 30, 10, tzinfo=UTC)
    for expression in [*MINUTE_EXPRESSIONS, "0 12 30 12 *", "0 12 * * 5", "*/30 23,0 * * *"]:
        _assert_same(expression, zone, moment - timedelta(days=2), moment + timedelta(days=2))


def _assert_same(expression: str, zone: ZoneInfo, start: datetime, end: datetime) -> None:
    spec = parse_cron(expression)
    got = slots_between(spec, zone, start, end)
    assert got == reference_between(spec, zone, start, end), (expression, zone.key, start)


# --- 2. properties over random expressions --------------------------------------------------------


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    word = value.map(str)
    if names:  # any letter case
        named = st.sampled_from(names).flatmap(lambda n: st.sampled_from([n, n.lower(), n.title()]))
        word = st.one_of(word, named)
    step = st.integers(1, high - low + 2).map(str)
    ranges = st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}")
    item = st.one_of(
        st.just("*"),
        step.map(lambda s: f"*/{s}"),
        word,
        ranges,
        st.tuples(ranges, step).map(lambda rs: f"{rs[0]}/{rs[1]}"),
        st.tuples(value, step).map(lambda vs: f"{vs[0]}/{vs[1]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@st.composite
def expressions(draw: st.DrawFn) -> str:
    # Mostly everyday shapes; seconds rarer because the reference walks them second by second.
    fields = [
        draw(st.one_of(st.sampled_from(["0", "*/15", "30", "0,30", "*/5"]), _field(0, 59))),
        draw(st.one_of(st.sampled_from(["*", "*/2", "2", "0-3", "1,2,23"]), _field(0, 23))),
        draw(st.one_of(st.just("*"), _field(1, 31))),
        draw(st.one_of(st.just("*"), st.just("*"), _field(1, 12, _MONTHS))),
        draw(st.one_of(st.just("*"), _field(0, 7, _DAYS))),
    ]
    if draw(st.integers(0, 4)) == 0:
        fields.insert(0, draw(st.one_of(st.just("0"), st.just("*/10"), _field(0, 59))))
    return " ".join(fields)


@st.composite
def instants(draw: st.DrawFn, zone_name: str) -> datetime:
    found = zone_transitions(zone_name)
    if found and draw(st.booleans()):
        near = draw(st.sampled_from(found))
        return near + timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    seconds = draw(st.integers(0, int((PERIOD[1] - PERIOD[0]).total_seconds())))
    return PERIOD[0] + timedelta(
        seconds=seconds, microseconds=draw(st.sampled_from([0, 1, 500_000]))
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[CronSpec, str, datetime]:
    spec = parse_cron(draw(expressions()))
    zone_name = draw(st.sampled_from(ALL_ZONES))
    return spec, zone_name, draw(instants(zone_name))


PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(cases())
def test_results_increase_and_match(case: tuple[CronSpec, str, datetime]) -> None:
    spec, zone_name, after = case
    zone = load_zone(zone_name)
    slots = next_slots(spec, zone, after, 12)
    previous = after
    for slot in slots:
        assert slot.tzinfo is UTC
        assert slot > previous
        previous = slot
        _assert_is_a_slot(spec, zone, slot)


@PROPERTY_SETTINGS
@given(cases())
def test_reentry_continues_the_same_sequence(case: tuple[CronSpec, str, datetime]) -> None:
    # The dispatcher asks for next_slot(previous fire) each time: that must walk the same list.
    spec, zone_name, after = case
    zone = load_zone(zone_name)
    slots = next_slots(spec, zone, after, 8)
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert next_slot(spec, zone, earlier) == later
        assert next_slot(spec, zone, later - timedelta(microseconds=1)) == later


@PROPERTY_SETTINGS
@given(cases())
def test_short_window_agrees_with_reference(case: tuple[CronSpec, str, datetime]) -> None:
    spec, zone_name, start = case
    window = timedelta(minutes=20) if spec.has_seconds else timedelta(hours=8)
    _assert_same(spec.expression, load_zone(zone_name), start, start + window)


def _assert_is_a_slot(spec: CronSpec, zone: ZoneInfo, slot: datetime) -> None:
    """A matching wall time (first pass only when fixed-time), or a gap fire at a transition."""
    local = slot.astimezone(zone)
    wall = local.replace(tzinfo=None, fold=0)
    assert matches(spec, wall) == ref_matches(spec, wall)  # cron.matches agrees with the reference
    if ref_matches(spec, wall) and (local.fold == 0 or not spec.fixed_time):
        return
    # Otherwise it must be a fixed-time gap fire: the offset jumps forward exactly at `slot`,
    # and a wall time in the skipped range matches.
    assert spec.fixed_time, (spec.expression, slot, wall)
    before = (slot - timedelta(seconds=1)).astimezone(zone)
    jump = local.utcoffset() - before.utcoffset()  # type: ignore[operator]
    assert jump > timedelta(0), (spec.expression, slot, "not a transition instant")
    step = timedelta(seconds=1 if spec.has_seconds else 60)
    skipped_start = before.replace(tzinfo=None) + timedelta(seconds=1)
    candidates = (skipped_start + i * step for i in range(int(jump / step)))
    assert any(ref_matches(spec, w) for w in candidates), (spec.expression, slot)
