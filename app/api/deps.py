"""Per-request dependencies: a pooled connection, the caller's tenant, the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from psycopg import AsyncConnection

from app.errors import Unauthorized
from app.services import tokens
from app.services.runs import RunService
from app.services.schedules import ScheduleService
from app.services.stats import StatsService

Conn = AsyncConnection[dict[str, Any]]
# Handler and provider parameters name their dependencies explicitly (Litestar 3 requires it).
DbConn = NamedDependency[Conn]
Tenant = NamedDependency[str]
Schedules = NamedDependency[ScheduleService]
Runs = NamedDependency[RunService]
StatsDep = NamedDependency[StatsService]


async def provide_conn(state: State) -> AsyncGenerator[Conn, None]:
    """One connection per request, back to the pool afterwards (services own transactions)."""
    async with state.pool.connection() as conn:
        yield conn


SESSION_COOKIE = "wfs_session"
DASHBOARD_HEADER = "x-dashboard"


def bearer_token(request: Request[Any, Any, Any]) -> str:
    """The request's API token: `Authorization: Bearer …`, or the dashboard's session cookie.

    The cookie (HttpOnly, SameSite=Strict) counts only on requests that also carry the
    `X-Dashboard` header, which a cross-site form or image cannot send: a second guard against
    cross-site request forgery after SameSite.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.headers.get(DASHBOARD_HEADER):
        return cookie
    raise Unauthorized()


async def provide_tenant(request: Request[Any, Any, Any], conn: DbConn) -> str:
    """The tenant of the request's bearer token; 401 without a valid one."""
    return await tokens.authenticate(conn, bearer_token(request))


async def provide_schedules(state: State, conn: DbConn, tenant: Tenant) -> ScheduleService:
    return ScheduleService(
        conn, tenant, target_allowlist=state.settings.target_allowlist, clock=state.clock
    )


async def provide_runs(state: State, conn: DbConn, tenant: Tenant) -> RunService:
    return RunService(conn, tenant, clock=state.clock)


async def provide_stats(conn: DbConn, tenant: Tenant) -> StatsService:
    return StatsService(conn, tenant)


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """A body on an API write must be JSON: anything else is 415, not a parse error."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if request.headers.get("content-length", "0") in ("", "0") and not request.headers.get(
        "transfer-encoding"
    ):
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type must be application/json, not {media_type or 'missing'}",
        )
