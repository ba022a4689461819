"""The replaced system's endpoints, same bodies (SPEC §7 compatibility)."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.api.deps import Schedules
from app.api.present import schedule_out
from app.api.schemas import RegisterRequest, RegisterResponse


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
