"""Domain objects → response models. Pure: what a presenter shows is fetched by the handler."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache

from app.api.schemas import (
    ExecutionOut,
    IncidentOut,
    ScheduleDetail,
    ScheduleListItem,
    ScheduleOut,
    ScheduleStatsOut,
    SummaryStatsOut,
    schedule_fields,
)
from app.domain.cron import parse_cron
from app.domain.describe import describe
from app.domain.execution import Execution
from app.domain.incidents import Incident
from app.domain.schedule import Schedule, upcoming
from app.domain.stats import Stats
from app.services.stats import Summary

DETAIL_NEXT_RUNS = 5


@lru_cache(maxsize=4_096)
def description_of(expression: str) -> str:
    return describe(parse_cron(expression))


def schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        **schedule_fields(schedule), description=description_of(schedule.cron_expression)
    )


def list_item(schedule: Schedule, summary: Summary) -> ScheduleListItem:
    # Built without validation: every value comes from a stored, already valid schedule, and a
    # page of 500 items validated twice over was the list endpoint's main cost.
    return ScheduleListItem.model_construct(
        **schedule_fields(schedule),
        description=description_of(schedule.cron_expression),
        stats=SummaryStatsOut.model_construct(
            total=summary.total, success_rate=summary.success_rate
        ),
    )


def execution_out(execution: Execution) -> ExecutionOut:
    return ExecutionOut.model_validate(asdict(execution))


def incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        kind=incident.kind,
        state=incident.state,
        schedule_id=incident.trigger_id,
        workflow_id=incident.workflow_id,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        occurrences=incident.occurrences,
        last_execution_id=incident.last_execution_id,
        summary=incident.summary,
        updated_at=incident.updated_at,
    )


def stats_fields(stats: Stats) -> dict[str, object]:
    return {
        **stats.counts,
        "total": stats.total,
        "success_rate": stats.success_rate,
        "avg_duration_ms": stats.avg_duration_ms,
        "p95_duration_ms": stats.p95_duration_ms,
    }


def schedule_stats_out(schedule: Schedule, stats: Stats) -> ScheduleStatsOut:
    return ScheduleStatsOut.model_validate(
        {
            **stats_fields(stats),
            "last_run_at": schedule.last_run_at,
            "last_status": schedule.last_status,
            "consecutive_failures": schedule.consecutive_failures,
            "next_run_at": schedule.next_run_at,
        }
    )


def schedule_detail(schedule: Schedule, stats: Stats, latest: Execution | None) -> ScheduleDetail:
    """The schedule with its next runs, its statistics and its latest execution."""
    return ScheduleDetail(
        **schedule_out(schedule).model_dump(),
        next_runs=upcoming(schedule, DETAIL_NEXT_RUNS),
        stats=schedule_stats_out(schedule, stats),
        last_execution=execution_out(latest) if latest else None,
    )


def etag(schedule: Schedule) -> str:
    return f'"{schedule.version}"'
