"""Runs: run now, backfill, and the execution history (SPEC §4.5, §7)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from app import tracing
from app.api.auth import CALLBACK_AUTH
from app.api.deps import (
    LAG_TOLERANT,
    DbConn,
    Outcomes,
    Runs,
    Tenant,
    confirm_missing,
    provide_runs,
)
from app.api.errors import error_responses
from app.api.present import execution_out
from app.api.ratelimit import enforce
from app.api.schemas import (
    BackfillRequest,
    BackfillResponse,
    ExecutionList,
    ExecutionOut,
    ResultReport,
)
from app.api.state import report_limiter_of, run_limiter_of
from app.domain.execution import Execution, Status
from app.services.executions import ExecutionPage
from db.types import Conn


class ScheduleRunsController(Controller):
    path = "/api/schedules/{schedule_id:uuid}"
    tags = ["runs"]

    @post(
        "/trigger",
        summary="Run now (also while paused)",
        status_code=HTTP_202_ACCEPTED,
        responses=error_responses(404, 429),
    )
    async def trigger(
        self, schedule_id: FromPath[UUID], runs: Runs, tenant: Tenant, state: State
    ) -> ExecutionOut:
        enforce(run_limiter_of(state), tenant)
        return execution_out(await runs.trigger(schedule_id))

    @post(
        "/backfill",
        summary="Run every slot in [start, end), at most 1,000",
        status_code=HTTP_200_OK,
        responses=error_responses(404, 429),
    )
    async def backfill(
        self,
        schedule_id: FromPath[UUID],
        data: JSONBody[BackfillRequest],
        runs: Runs,
        tenant: Tenant,
        state: State,
    ) -> BackfillResponse:
        enforce(run_limiter_of(state), tenant)
        result = await runs.backfill(schedule_id, data.start, data.end)
        return BackfillResponse(created=result.created, existing=result.existing)

    @get(
        "/executions",
        summary="The schedule's executions, newest first",
        dependencies=LAG_TOLERANT,
        responses=error_responses(404),
    )
    async def list_executions(
        self,
        request: Request[Any, Any, Any],
        state: State,
        schedule_id: FromPath[UUID],
        conn: DbConn,
        tenant: Tenant,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> ExecutionList:
        async def read(conn: Conn) -> ExecutionPage:
            runs = await provide_runs(state, conn, tenant)
            return await runs.history(schedule_id, limit=limit, cursor=cursor, status=status)

        page = await confirm_missing(request, read, conn)
        return ExecutionList(
            items=[execution_out(e) for e in page.items], next_cursor=page.next_cursor
        )


class ExecutionController(Controller):
    path = "/api/executions"
    tags = ["runs"]

    @get("/{execution_id:uuid}", summary="One execution", responses=error_responses(404))
    async def get_execution(self, execution_id: FromPath[UUID], runs: Runs) -> ExecutionOut:
        return execution_out(await runs.get(execution_id))

    @post(
        "/{execution_id:uuid}/result",
        summary="A workflow reports how it ended (after its target answered 202 Accepted)",
        description=(
            "Authorization: the delivery's `X-Scheduler-Callback-Token` (this execution only),"
            " or an API token of the execution's tenant. 200: recorded (or the same report"
            " again). 202: the report came before the scheduler recorded the target's 202; it"
            " is kept and applied then. 409: the execution is not awaiting a result, or a"
            " different result was reported first; the message names its status."
        ),
        status_code=HTTP_200_OK,
        opt={CALLBACK_AUTH: True},
        responses=error_responses(404, 409, 429),
    )
    async def report_result(
        self,
        execution_id: FromPath[UUID],
        data: JSONBody[ResultReport],
        outcomes: Outcomes,
        tenant: Tenant,
        state: State,
    ) -> Response[ExecutionOut]:
        enforce(report_limiter_of(state), tenant)
        reported = await outcomes.report(execution_id, data.to_domain())
        _annotate(reported.execution)
        return Response(
            execution_out(reported.execution),
            status_code=HTTP_202_ACCEPTED if reported.early else HTTP_200_OK,
        )

    @post(
        "/{execution_id:uuid}/heartbeat",
        summary="A long workflow is alive: its completion deadline moves",
        description=(
            "The deadline becomes now + completionTimeoutSeconds. Same authorization as"
            " /result. 409 when the execution is not awaiting a result (timed_out included)."
        ),
        status_code=HTTP_200_OK,
        opt={CALLBACK_AUTH: True},
        responses=error_responses(404, 409, 429),
    )
    async def heartbeat(
        self, execution_id: FromPath[UUID], outcomes: Outcomes, tenant: Tenant, state: State
    ) -> ExecutionOut:
        enforce(report_limiter_of(state), tenant)
        execution = await outcomes.heartbeat(execution_id)
        _annotate(execution)
        return execution_out(execution)


def _annotate(execution: Execution) -> None:
    """A report's span names the run it is about (nothing when tracing is off)."""
    tracing.annotate(
        schedule_id=execution.trigger_id,
        scheduled_at=execution.scheduled_at,
        execution_id=execution.id,
    )
