"""The cron dialect (SPEC §3): what parses to what, what is rejected and with which words."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.cron import CronSpec, matches, parse_cron
from app.errors import InvalidCron

ALL_MIN = frozenset(range(60))
ALL_HOUR = frozenset(range(24))
ALL_DOM = frozenset(range(1, 32))
ALL_MONTH = frozenset(range(1, 13))
ALL_DOW = frozenset(range(7))


def test_five_fields_every_minute() -> None:
    spec = parse_cron("* * * * *")
    assert spec == CronSpec(
        expression="* * * * *",
        seconds=frozenset({0}),
        minutes=ALL_MIN,
        hours=ALL_HOUR,
        days_of_month=ALL_DOM,
        months=ALL_MONTH,
        days_of_week=ALL_DOW,
        dom_restricted=False,
        dow_restricted=False,
        has_seconds=False,
        fixed_time=False,
    )


def test_six_fields_put_seconds_first() -> None:
    spec = parse_cron("30 15 9 * * *")
    assert spec.has_seconds
    assert spec.seconds == {30}
    assert spec.minutes == {15}
    assert spec.hours == {9}
    assert spec.fixed_time


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", ALL_MIN),
        ("*/15", {0, 15, 30, 45}),
        ("5", {5}),
        ("05", {5}),
        ("5-5", {5}),  # equal bounds are one value (croniter reads it as '*')
        ("1-4", {1, 2, 3, 4}),
        ("10-30/10", {10, 20, 30}),
        ("50/5", {50, 55}),  # v/s means v-max/s
        ("1,2,3", {1, 2, 3}),
        ("1,1,1", {1}),
        ("0-10/5,30,*/20", {0, 5, 10, 20, 30, 40}),
        ("*/90", {0}),  # a step larger than the range is fine
        ("59", {59}),
        ("0", {0}),
    ],
)
def test_minute_items(field: str, expected: set[int]) -> None:
    assert parse_cron(f"{field} * * * *").minutes == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("MON-FRI", {1, 2, 3, 4, 5}),
        ("mon-fri", {1, 2, 3, 4, 5}),
        ("Sun", {0}),
        ("7", {0}),  # 7 is Sunday too
        ("0,7", {0}),
        ("5-7", {5, 6, 0}),
        ("SAT,SUN", {6, 0}),
        ("*/2", {0, 2, 4, 6}),
        ("1/2", {1, 3, 5, 0}),  # 1-7/2: 7 is Sunday
        ("MON/2", {1, 3, 5, 0}),
        ("tue-thu", {2, 3, 4}),
    ],
)
def test_day_of_week_items(field: str, expected: set[int]) -> None:
    assert parse_cron(f"0 0 * * {field}").days_of_week == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("JAN", {1}),
        ("dec", {12}),
        ("Jan-Mar", {1, 2, 3}),
        ("JAN,jul", {1, 7}),
        ("*/3", {1, 4, 7, 10}),
        ("FEB/6", {2, 8}),
        ("12", {12}),
    ],
)
def test_month_items(field: str, expected: set[int]) -> None:
    assert parse_cron(f"0 0 1 {field} *").months == expected


@pytest.mark.parametrize(
    "text",
    ["0 9 * * 1-5", " 0 9 * * 1-5", "0 9 * * 1-5  ", "0\t9 * *\t\t1-5", "  0   9\t *  * 1-5\t"],
)
def test_spaces_and_tabs_separate_fields(text: str) -> None:
    spec = parse_cron(text)
    assert spec.expression == text.strip(" \t")
    assert spec.minutes == {0} and spec.hours == {9} and spec.days_of_week == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_macros_expand(macro: str, equivalent: str) -> None:
    spec, plain = parse_cron(macro), parse_cron(equivalent)
    assert spec.expression == macro
    for name in CronSpec.__slots__:
        if name != "expression":
            assert getattr(spec, name) == getattr(plain, name), name


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("0 9 * * *", True),
        ("0,30 9-17 * * *", True),  # lists and ranges count as fixed
        ("0 0 9 * * *", True),
        ("*/10 0 9 * * *", True),  # the seconds field is not looked at
        ("0 * * * *", False),
        ("0 */2 * * *", False),
        ("*/5 9 * * *", False),
        ("0 9/2 * * *", False),
        ("5 0-23/1 * * *", False),
        ("@hourly", False),
        ("@daily", True),
        ("@weekly", True),
        ("@monthly", True),
        ("@yearly", True),
    ],
)
def test_fixed_time(text: str, fixed: bool) -> None:
    assert parse_cron(text).fixed_time is fixed


@pytest.mark.parametrize(
    ("text", "dom", "dow"),
    [
        ("0 0 * * *", False, False),
        ("0 0 1 * *", True, False),
        ("0 0 * * 1", False, True),
        ("0 0 1-31 * *", True, False),  # restricted even though it covers every day
        ("0 0 */2 * *", False, False),  # starts with '*': unrestricted
        ("0 0 * * */2", False, False),
        ("0 0 13 * 5", True, True),
    ],
)
def test_restricted_flags(text: str, dom: bool, dow: bool) -> None:
    spec = parse_cron(text)
    assert (spec.dom_restricted, spec.dow_restricted) == (dom, dow)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("* 24 * * *", "hour: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month: 32 is out of range 1-31"),
        ("* * * 0 *", "month: 0 is out of range 1-12"),
        ("* * * 13 *", "month: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week: 8 is out of range 0-7"),
        ("60 * * * * *", "second: 60 is out of range 0-59"),
        ("*/0 * * * *", "minute: step must be at least 1"),
        ("* 1-5/0 * * *", "hour: step must be at least 1"),
        ("* * * * FOO", "day-of-week: 'FOO' is not a number or a day name"),
        ("* * * FOO *", "month: 'FOO' is not a number or a month name"),
        ("* * MON * *", "day-of-month: 'MON' is not a number"),
        ("* * * * * * *", "expected 5 or 6 fields (seconds first), got 7"),
        ("* * * *", "expected 5 or 6 fields (seconds first), got 4"),
        ("*", "expected 5 or 6 fields (seconds first), got 1"),
        ("@reboot", "'@reboot' is not supported"),
        ("@every 5m", "'@every' is not supported"),
        ("@DAILY", "macros are lower case ('@daily')"),
        ("@Hourly", "macros are lower case ('@hourly')"),
        ("@daily 5", "'@daily' takes no fields"),
        ("@fortnightly", "'@fortnightly' is not supported"),
        ("", "expression is empty"),
        (" \t ", "expression is empty"),
        ("1,,2 * * * *", "minute: empty item in list '1,,2'"),
        (",1 * * * *", "minute: empty item"),
        ("1, * * * *", "minute: empty item"),
        ("+5 * * * *", "minute: '+5' is not a number"),
        ("-5 * * * *", "minute: '-5' is not a valid range"),
        ("1_0 * * * *", "minute: '1_0' is not a number"),
        ("1e1 * * * *", "minute: '1e1' is not a number"),
        ("\u0663 * * * *", "minute: '\u0663' is not a number"),  # Arabic-Indic three
        ("\uff15 * * * *", "is not a number"),  # fullwidth five
        ("\u00b2 * * * *", "is not a number"),  # superscript two
        ("0x1 * * * *", "minute: '0x1' is not a number"),
        ("* 22-2 * * *", "hour: range 22-2 is reversed"),
        ("* * * DEC-JAN *", "month: range DEC-JAN is reversed"),
        ("* * * * FRI-SUN", "day-of-week: range FRI-SUN is reversed"),
        ("* * * * FRI-SUN", "5-7"),
        ("1-2-3 * * * *", "minute: '1-2-3' is not a valid range"),
        ("1- * * * *", "minute: '1-' is not a valid range"),
        ("/5 * * * *", "minute: '/5' has no value before '/'"),
        ("5/ * * * *", "minute: '5/' has no step after '/'"),
        ("5/2/2 * * * *", "minute: step '2/2' is not a number"),
        ("* * * * MON/TUE", "day-of-week: step 'TUE' is not a number"),
        ("*-5 * * * *", "minute: '*' cannot be combined with values"),
        ("** * * * *", "minute: '*' cannot be combined with values"),
        ("* * L * *", "day-of-month: 'L' (last day / nearest weekday) is not supported"),
        ("* * 15W * *", "day-of-month: '15W'"),
        ("* * LW * *", "is not supported"),
        ("* * * * 5L", "day-of-week: '5L'"),
        ("* * * * 5#2", "day-of-week: '#' (nth weekday of the month) is not supported"),
        ("* * ? * *", "day-of-month: '?' is not supported"),
        ("H * * * *", "minute: 'H' (hashed values) is not supported"),
        ("H/5 * * * *", "'H' (hashed values) is not supported"),
        ("x" * 201, "longer than 200 characters"),
        ("0 9 * * 1-5\n", "unexpected character '\\n'"),
        ("0\n9 * * 1-5", "unexpected character"),
        ("0\u00a09 * * 1-5", "unexpected character"),  # no-break space
        ("0 9 * * 1-5 2026", "day-of-week: 2026 is out of range 0-7"),
    ],
)
def test_errors_name_the_field_and_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(text)
    assert message in str(caught.value)
    assert caught.value.field == "cronExpression"


def test_two_hundred_characters_is_the_limit() -> None:
    tail = " 0 * * *"  # leading zeros keep the minute field valid at any length
    assert parse_cron("0" * (200 - len(tail)) + tail).minutes == {0}
    with pytest.raises(InvalidCron, match="longer than 200 characters"):
        parse_cron("0" * (201 - len(tail)) + tail)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidCron):
        parse_cron(None)  # type: ignore[arg-type]


def test_parse_is_cached_and_immutable() -> None:
    assert parse_cron("*/5 * * * *") is parse_cron("*/5 * * * *")
    spec = parse_cron("*/5 * * * *")
    with pytest.raises(AttributeError):
        spec.minutes = frozenset()  # type: ignore[misc]


# --- matching -------------------------------------------------------------------------------


# 2026-03-13 is a Friday; 2026-03-12 a Thursday; 2026-02-13 a Friday.
@pytest.mark.parametrize(
    ("text", "wall", "expected"),
    [
        ("0 0 13 * 5", datetime(2026, 3, 13), True),  # both
        ("0 0 13 * 5", datetime(2026, 3, 20), True),  # Friday only: OR rule
        ("0 0 13 * 5", datetime(2026, 4, 13), True),  # 13th only (a Monday): OR rule
        ("0 0 13 * 5", datetime(2026, 3, 12), False),
        ("0 0 13 * *", datetime(2026, 3, 12), False),
        ("0 0 * * 5", datetime(2026, 3, 12), False),
        ("0 0 * * 5", datetime(2026, 3, 13), True),
        ("0 0 */2 * 5", datetime(2026, 3, 13), True),  # */2 is unrestricted: AND rule
        ("0 0 */2 * 5", datetime(2026, 3, 20), False),  # Friday the 20th: even day
        ("0 0 */2 * 5", datetime(2026, 3, 11), False),  # odd day, a Wednesday
        ("0 0 1-31 * 5", datetime(2026, 3, 12), True),  # 1-31 is restricted: OR rule
        ("0 0 * * 0", datetime(2026, 3, 15), True),  # Sunday
        ("0 0 * * 7", datetime(2026, 3, 15), True),
        ("0 0 29 2 *", datetime(2028, 2, 29), True),
        ("0 0 * JAN *", datetime(2026, 2, 1), False),
        ("30 0 0 * * *", datetime(2026, 2, 1, 0, 0, 30), True),
        ("30 0 0 * * *", datetime(2026, 2, 1, 0, 0, 0), False),
        ("0 0 * * *", datetime(2026, 2, 1, 0, 0, 0, 999), True),  # microseconds ignored
        ("15 9 * * *", datetime(2026, 2, 1, 9, 15), True),
        ("15 9 * * *", datetime(2026, 2, 1, 9, 16), False),
        ("15 9 * * *", datetime(2026, 2, 1, 10, 15), False),
    ],
)
def test_matches(text: str, wall: datetime, expected: bool) -> None:
    assert matches(parse_cron(text), wall) is expected


# --- fuzzing ----------------------------------------------------------------------------------

_ALPHABET = st.sampled_from(list("0123456789*/-,@ \tLWH#?MONJAUFEBSTRDCVxyz\u0663\n+_."))


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=40))
def test_any_text_parses_or_raises_invalid_cron(text: str) -> None:
    try:
        spec = parse_cron(text)
    except InvalidCron as error:
        assert str(error)
        return
    for values, low, high in [
        (spec.seconds, 0, 59),
        (spec.minutes, 0, 59),
        (spec.hours, 0, 23),
        (spec.days_of_month, 1, 31),
        (spec.months, 1, 12),
        (spec.days_of_week, 0, 6),
    ]:
        assert values and all(low <= v <= high for v in values)
