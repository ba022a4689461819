"""Schedules: CRUD, pause/resume, preview (SPEC §7)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.api import present
from app.api.deps import LAG_TOLERANT, Schedules, StatsDep, Tenant
from app.api.errors import error_responses
from app.api.present import etag, list_item
from app.api.schemas import (
    PauseBody,
    PreviewRequest,
    PreviewResponse,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleList,
    SchedulePatch,
)
from app.clock import utc_now
from app.domain.schedule import Schedule
from app.domain.schedule import State as ScheduleState
from app.domain.timezones import zone_names
from app.errors import ValidationFailed
from app.services.preview import preview
from app.services.schedules import ScheduleService
from app.services.stats import StatsService


async def schedule_detail(schedule: Schedule, stats: StatsService) -> ScheduleDetail:
    """The detail answer: its latest execution and statistics read here, shown by `present`."""
    latest = await stats.latest_execution(schedule)
    return present.schedule_detail(schedule, await stats.of_schedule(schedule), latest)


IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", required=False, description='The version you read: "3"'),
]


def expected_version(if_match: str | None) -> int | None:
    """The version in an If-Match header (`"3"`, `W/"3"` or `3`); None for absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isascii() or not text.isdigit():
        raise ValidationFailed(
            f"If-Match: {if_match!r} is not a version this API issued (send the ETag you read)",
            field="If-Match",
        )
    return int(text)


def _with_etag(
    detail: ScheduleDetail, version_tag: str, status: int = HTTP_200_OK
) -> Response[ScheduleDetail]:
    return Response(detail, status_code=status, headers={"ETag": version_tag})


async def _set_enabled(
    schedules: ScheduleService,
    stats: StatsService,
    schedule_id: UUID,
    enabled: bool,
    data: PauseBody | None,
    if_match: str | None,
) -> Response[ScheduleDetail]:
    """The body of pause (`enabled` False) and resume (True)."""
    note = data.note if data else None
    changed = await schedules.set_enabled(schedule_id, enabled, note, expected_version(if_match))
    return _with_etag(await schedule_detail(changed, stats), etag(changed))


class ScheduleController(Controller):
    path = "/api/schedules"
    tags = ["schedules"]

    @post("/", summary="Create a schedule", responses=error_responses(409, 429))
    async def create(
        self, data: JSONBody[ScheduleCreate], schedules: Schedules, stats: StatsDep
    ) -> Response[ScheduleDetail]:
        created = await schedules.create(data.to_domain())
        return _with_etag(await schedule_detail(created, stats), etag(created), status=201)

    @get("/", summary="List schedules", dependencies=LAG_TOLERANT, responses=error_responses())
    async def list_schedules(
        self,
        schedules: Schedules,
        stats: StatsDep,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
        workflow_id: Annotated[str | None, QueryParameter(name="workflowId")] = None,
        state_filter: Annotated[ScheduleState | None, QueryParameter(name="state")] = None,
    ) -> ScheduleList:
        page = await schedules.list(
            limit=limit, cursor=cursor, workflow_id=workflow_id, state=state_filter
        )
        summaries = await stats.summaries([s.id for s in page.items])
        return ScheduleList(
            items=[list_item(s, summaries[s.id]) for s in page.items],
            next_cursor=page.next_cursor,
        )

    @get(
        "/{schedule_id:uuid}",
        summary="Get a schedule, its next 5 runs",
        responses=error_responses(404),
    )
    async def get_schedule(
        self, schedule_id: FromPath[UUID], schedules: Schedules, stats: StatsDep
    ) -> Response[ScheduleDetail]:
        found = await schedules.get(schedule_id)
        return _with_etag(await schedule_detail(found, stats), etag(found))

    @patch(
        "/{schedule_id:uuid}",
        summary="Change a schedule (If-Match honoured)",
        responses=error_responses(404, 409, 412),
    )
    async def update(
        self,
        schedule_id: FromPath[UUID],
        data: JSONBody[SchedulePatch],
        schedules: Schedules,
        stats: StatsDep,
        if_match: IfMatch = None,
    ) -> Response[ScheduleDetail]:
        updated = await schedules.update(schedule_id, data.to_domain(), expected_version(if_match))
        return _with_etag(await schedule_detail(updated, stats), etag(updated))

    @delete(
        "/{schedule_id:uuid}",
        summary="Delete a schedule",
        status_code=HTTP_204_NO_CONTENT,
        responses=error_responses(404, 412),
    )
    async def delete_schedule(
        self, schedule_id: FromPath[UUID], schedules: Schedules, if_match: IfMatch = None
    ) -> None:
        await schedules.delete(schedule_id, expected_version(if_match))

    @post(
        "/{schedule_id:uuid}/pause",
        summary="Pause: no slots until resumed",
        status_code=HTTP_200_OK,
        responses=error_responses(404, 409, 412),  # 409: the schedule has ended
    )
    async def pause(
        self,
        schedule_id: FromPath[UUID],
        schedules: Schedules,
        stats: StatsDep,
        data: JSONBody[PauseBody | None] = None,
        if_match: IfMatch = None,
    ) -> Response[ScheduleDetail]:
        return await _set_enabled(schedules, stats, schedule_id, False, data, if_match)

    @post(
        "/{schedule_id:uuid}/resume",
        summary="Resume from now (nothing is caught up)",
        status_code=HTTP_200_OK,
        responses=error_responses(404, 409, 412),  # 409: the schedule has ended
    )
    async def resume(
        self,
        schedule_id: FromPath[UUID],
        schedules: Schedules,
        stats: StatsDep,
        data: JSONBody[PauseBody | None] = None,
        if_match: IfMatch = None,
    ) -> Response[ScheduleDetail]:
        return await _set_enabled(schedules, stats, schedule_id, True, data, if_match)

    @post(
        "/preview",
        summary="The next runs of a cron expression",
        status_code=HTTP_200_OK,
        responses=error_responses(),
    )
    async def preview_runs(
        self, data: JSONBody[PreviewRequest], state: State, tenant: Tenant
    ) -> PreviewResponse:
        after = data.after or (state.clock or utc_now)()
        runs, description = preview(data.cron_expression, data.timezone, after, data.count)
        return PreviewResponse(next_runs=runs, description=description)


@get(
    "/api/timezones",
    tags=["schedules"],
    summary="The IANA time zones a schedule may use",
    responses=error_responses(),
)
async def list_timezones(tenant: Tenant) -> dict[str, list[str]]:
    return {"items": zone_names()}
