"""Domain objects → response models."""

from __future__ import annotations

from app.api.schemas import ScheduleDetail, ScheduleOut, schedule_fields
from app.domain.cron import parse_cron
from app.domain.describe import describe
from app.domain.schedule import Schedule, upcoming

DETAIL_NEXT_RUNS = 5


def schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        **schedule_fields(schedule), description=describe(parse_cron(schedule.cron_expression))
    )


def schedule_detail(schedule: Schedule) -> ScheduleDetail:
    return ScheduleDetail(
        **schedule_out(schedule).model_dump(),
        next_runs=upcoming(schedule, DETAIL_NEXT_RUNS),
    )


def etag(schedule: Schedule) -> str:
    return f'"{schedule.version}"'
