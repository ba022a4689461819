"""The replaced system's endpoints, same bodies (SPEC §7 compatibility)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.api.caching import HISTORY_TTL_SECONDS, cached, schedule_marker
from app.api.deps import (
    LAG_TOLERANT,
    DbConn,
    Schedules,
    Tenant,
    confirm_missing,
    provide_runs,
    provide_schedules,
    provide_stats,
)
from app.api.errors import error_responses
from app.api.present import execution_out, schedule_out, schedule_stats_out
from app.api.schemas import HistoryOut, RegisterRequest, RegisterResponse
from app.api.state import cache_of
from db.types import Conn


class CompatController(Controller):
    path = "/api/scheduler"
    tags = ["compatibility"]

    @post(
        "/register",
        summary="Create or replace the schedule with this triggerId",
        responses=error_responses(409, 429),  # 409: the triggerId is in use
    )
    async def register(
        self, data: JSONBody[RegisterRequest], schedules: Schedules
    ) -> Response[RegisterResponse]:
        schedule, created = await schedules.register(
            {
                "id": data.trigger_id,
                "workflow_id": data.workflow_id,
                "cron_expression": data.cron_expression,
                "timezone": data.timezone,
                "enabled": data.enabled,
            }
        )
        body = RegisterResponse(
            success=True,
            trigger_id=schedule.id,
            created=created,
            schedule=schedule_out(schedule),
        )
        return Response(body, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/history",
        summary="Recent executions and statistics of one schedule",
        dependencies=LAG_TOLERANT,
        responses=error_responses(404),
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        state: State,
        conn: DbConn,
        tenant: Tenant,
        trigger_id: Annotated[UUID, QueryParameter(name="triggerId")],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 10,
    ) -> HistoryOut:
        async def read(conn: Conn) -> HistoryOut:
            schedules = await provide_schedules(state, conn, tenant)
            schedule = await schedules.get(trigger_id)  # also the tenant check, never cached

            async def compute() -> HistoryOut:
                runs = await provide_runs(state, conn, tenant)
                stats = await provide_stats(conn, tenant)
                page = await runs.history(trigger_id, limit=limit)
                return HistoryOut(
                    executions=[execution_out(e) for e in page.items],
                    stats=schedule_stats_out(schedule, await stats.of_schedule(schedule)),
                )

            key = f"history:{schedule.id}:{limit}:{schedule_marker(schedule)}"
            return await cached(cache_of(state), key, HISTORY_TTL_SECONDS, HistoryOut, compute)

        return await confirm_missing(request, read, conn)
