"""Human descriptions of cron expressions (the `description` field and the preview answer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.cron import CronSpec, parse_cron
from app.domain.describe import describe


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("* * * * * *", "Every second"),
        ("*/5 * * * * *", "Every 5 seconds"),
        ("0-59/5 * * * * *", "Every 5 seconds"),
        ("* * * * *", "Every minute"),
        ("0 * * * * *", "Every minute"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("0-59/15 * * * *", "Every 15 minutes"),
        ("0 * * * *", "Every hour"),
        ("@hourly", "Every hour"),
        ("15 * * * *", "At minute 15 past every hour"),
        ("5,10 * * * *", "At minutes 5 and 10 past every hour"),
        ("1-5 * * * *", "At minutes 1 through 5 past every hour"),
        ("0 */2 * * *", "Every 2 hours"),
        ("30 */2 * * *", "At minute 30 past every 2nd hour"),
        ("3/4 * * * *", "Every 4 minutes from minute 3 through 59"),
        ("0 1-23/2 * * *", "At minute 0 past every 2nd hour from 1 through 23"),
        ("10-30/10 * * * *", "At minutes 10, 20 and 30 past every hour"),
        ("30 * 9-17 * * *", "At second 30 past every minute, between 09:00 and 17:59"),
        ("1 */7 5 * * *", "At second 1 past every 7th minute, between 05:00 and 05:59"),
        ("1 7 5 * * 1", "At 05:07:01 on Monday"),
        ("1 7 5-20 * * *", "At second 1 past minute 7 past hours 5 through 20"),
        ("0 9-17 * * *", "Every hour from 09:00 through 17:00"),
        ("30 9-17 * * *", "At minute 30 past hours 9 through 17"),
        ("0 9 * * *", "At 09:00 every day"),
        ("@daily", "At 00:00 every day"),
        ("30 2 * * *", "At 02:30 every day"),
        ("0,30 1,2 * * *", "At 01:00, 01:30, 02:00 and 02:30 every day"),
        ("0 8-18/2 * * *", "At 08:00, 10:00, 12:00, 14:00, 16:00 and 18:00 every day"),
        ("30 0 9 * * *", "At 09:00:30 every day"),
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("0 9 * * MON-FRI", "At 09:00, Monday through Friday"),
        ("0 22 * * 1-5", "At 22:00, Monday through Friday"),
        ("0 9 * * 1", "At 09:00 on Monday"),
        ("0 9 * * 1,3,5", "At 09:00 on Monday, Wednesday and Friday"),
        ("0 12 * * 6,0", "At 12:00 on Saturday and Sunday"),
        ("0 0 * * 5-7", "At 00:00, Friday through Sunday"),
        ("0 0 * * 0,1", "At 00:00 on Sunday and Monday"),
        ("@weekly", "At 00:00 on Sunday"),
        ("0 0 1 * *", "At 00:00 on day 1 of the month"),
        ("@monthly", "At 00:00 on day 1 of the month"),
        ("0 0 1,15 * *", "At 00:00 on days 1 and 15 of the month"),
        ("0 0 1 1 *", "At 00:00 on January 1"),
        ("@yearly", "At 00:00 on January 1"),
        ("0 0 29 2 *", "At 00:00 on February 29"),
        ("0 9 * 1 *", "At 09:00 every day in January"),
        ("0 0 1 1,7 *", "At 00:00 on day 1 of the month, in January and July"),
        ("*/15 * * 6-8 *", "Every 15 minutes in June through August"),
        ("0 0 13 * 5", "At 00:00 on day 13 of the month or on Friday"),
        ("0 0 */2 * 1", "At 00:00 on every 2nd day of the month, if it falls on Monday"),
        (
            "*/5 9-17 * * 1-5",
            "Every 5 minutes, between 09:00 and 17:59, Monday through Friday",
        ),
        (
            "0,30 9-17 1,15 1,7 *",
            "Every 30 minutes, between 09:00 and 17:59, on days 1 and 15 of the month,"
            " in January and July",
        ),
        (
            "0,20 9-17 1,15 1,7 *",
            "At minutes 0 and 20 past hours 9 through 17 on days 1 and 15 of the month,"
            " in January and July",
        ),
        ("30 * * * * *", "At second 30 past every minute"),
        ("*/10 */5 * * * *", "Every 10 seconds during every 5th minute"),
    ],
)
def test_descriptions(expression: str, text: str) -> None:
    assert describe(parse_cron(expression)) == text


def test_never_raises_even_on_odd_specs() -> None:
    odd = CronSpec(
        expression="hand-made",
        seconds=frozenset(),
        minutes=frozenset(),
        hours=frozenset(),
        days_of_month=frozenset(),
        months=frozenset(),
        days_of_week=frozenset(),
        dom_restricted=True,
        dow_restricted=True,
        has_seconds=False,
        fixed_time=True,
    )
    assert describe(odd)


_ITEM = st.sampled_from(["*", "*/2", "*/7", "1", "5", "1-5", "2-4/2", "3/4", "0,1", "1,3,5"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_ITEM, min_size=1, max_size=3).map(",".join), min_size=6, max_size=6))
def test_any_valid_expression_gets_a_sentence(fields: list[str]) -> None:
    fields[3] = fields[3].replace("0,", "1,")  # day-of-month has no 0
    fields[4] = fields[4].replace("0,", "1,")  # nor has month
    text = describe(parse_cron(" ".join(fields)))
    assert text and text[0].isupper() and "Cron schedule" not in text
    assert "  " not in text and not text.endswith((" ", ","))
