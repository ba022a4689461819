"""Preview: the same slot function the scheduler fires by (SPEC §3), on any expression."""

from __future__ import annotations

from datetime import datetime

from app.domain.cron import parse_cron
from app.domain.describe import describe
from app.domain.slots import ensure_fires, next_slots
from app.domain.timezones import load_zone


def preview(
    cron_expression: str, timezone: str, after: datetime, count: int
) -> tuple[list[datetime], str]:
    """The next `count` slots strictly after `after`, and the expression in words.

    Raises InvalidCron / UnknownTimezone / NeverFires (422) like creating a schedule would.
    """
    spec = parse_cron(cron_expression)
    zone = load_zone(timezone)
    ensure_fires(spec, zone, after)
    return next_slots(spec, zone, after, count), describe(spec)
