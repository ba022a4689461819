"""Incidents (issue 12): read-only, the tenant's own. Written by the events themselves
(app/services/incidents.py), never through the API."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, get
from litestar.params import FromPath, FromQuery, QueryParameter

from app.api.deps import LAG_TOLERANT, Incidents
from app.api.errors import error_responses
from app.api.present import incident_out
from app.api.schemas import IncidentList, IncidentOut


class IncidentController(Controller):
    path = "/api/incidents"
    tags = ["incidents"]

    @get(
        "/",
        summary="List incidents, newest first",
        dependencies=LAG_TOLERANT,
        responses=error_responses(),
    )
    async def list_incidents(
        self,
        incidents: Incidents,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
        state_filter: Annotated[
            Literal["open", "resolved"] | None, QueryParameter(name="state")
        ] = None,
        schedule_id: Annotated[UUID | None, QueryParameter(name="scheduleId")] = None,
    ) -> IncidentList:
        page = await incidents.list(
            state=state_filter, schedule_id=schedule_id, limit=limit, cursor=cursor
        )
        return IncidentList(
            items=[incident_out(i) for i in page.items], next_cursor=page.next_cursor
        )

    @get("/{incident_id:uuid}", summary="Get an incident", responses=error_responses(404))
    async def get_incident(self, incident_id: FromPath[UUID], incidents: Incidents) -> IncidentOut:
        return incident_out(await incidents.get(incident_id))
