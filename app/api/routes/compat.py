"""The replaced system's endpoints, same bodies (SPEC §7 compatibility)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.api.caching import HISTORY_TTL_SECONDS, cached, schedule_marker
from app.api.deps import Runs, Schedules, StatsDep
from app.api.present import execution_out, schedule_out, schedule_stats_out
from app.api.schemas import HistoryOut, RegisterRequest, RegisterResponse


class CompatController(Controller):
    path = "/api/scheduler"
    tags = ["compatibility"]

    @post("/register", summary="Create or replace the schedule with this triggerId")
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

    @get("/history", summary="Recent executions and statistics of one schedule")
    async def history(
        self,
        schedules: Schedules,
        runs: Runs,
        stats: StatsDep,
        state: State,
        trigger_id: Annotated[UUID, QueryParameter(name="triggerId")],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 10,
    ) -> HistoryOut:
        schedule = await schedules.get(trigger_id)  # also the tenant check, never cached

        async def compute() -> HistoryOut:
            page = await runs.history(trigger_id, limit=limit)
            return HistoryOut(
                executions=[execution_out(e) for e in page.items],
                stats=schedule_stats_out(schedule, await stats.of_schedule(schedule)),
            )

        key = f"history:{schedule.id}:{limit}:{schedule_marker(schedule)}"
        return await cached(state.cache, key, HISTORY_TTL_SECONDS, HistoryOut, compute)
