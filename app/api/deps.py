"""Per-request dependencies (injection): a pooled or lag-tolerant connection, the caller's
tenant (who it is: app/api/auth.py), the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from app import tracing
from app.api.auth import authenticate, authenticated_before
from app.api.state import clock_of, pool_of, read_router_of, settings_of
from app.errors import NotFound
from app.services.executions import ExecutionService
from app.services.incidents import IncidentService
from app.services.outcomes import OutcomeService
from app.services.quotas import quotas_of
from app.services.schedules import ScheduleService
from app.services.stats import StatsService
from db.types import Conn as Conn  # re-exported: the routes take it from here

# Handler and provider parameters name their dependencies explicitly (Litestar 3 requires it).
DbConn = NamedDependency[Conn]
Tenant = NamedDependency[str]
Schedules = NamedDependency[ScheduleService]
Runs = NamedDependency[ExecutionService]
StatsDep = NamedDependency[StatsService]
Outcomes = NamedDependency[OutcomeService]
Incidents = NamedDependency[IncidentService]


def pooled_connection(state: State) -> AbstractAsyncContextManager[Conn]:
    """A connection from the API's pool; PoolTimeout (answered 503) after
    `API_DATABASE_WAIT_SECONDS` without one."""
    return pool_of(state).connection(timeout=settings_of(state).api_database_wait_seconds)


async def provide_conn(state: State) -> AsyncGenerator[Conn, None]:
    """One connection per request, back to the pool afterwards (services own transactions)."""
    async with pooled_connection(state) as conn:
        yield conn


@asynccontextmanager
async def _lag_tolerant(state: State) -> AsyncIterator[tuple[Conn, bool]]:
    """A connection for a read that tolerates lag, and whether it is the replica's: from the
    replica while the API's read router (app/api/read_routing.py, DATABASE_READ_URL) says it
    is fresh enough, else from the primary's pool, as `pooled_connection`."""
    router = read_router_of(state)
    lease = await router.lease() if router is not None else None
    if lease is None:
        async with pooled_connection(state) as conn:
            yield conn, False
        return
    pool, conn = lease
    try:
        yield conn, True
    finally:
        await pool.putconn(conn)


@asynccontextmanager
async def read_connection(state: State) -> AsyncIterator[Conn]:
    """See `_lag_tolerant`."""
    async with _lag_tolerant(state) as (conn, _):
        yield conn


READ_FROM_REPLICA = "read_from_replica"
"""Set in a request's state when its lag-tolerant connection is the replica's."""
T = TypeVar("T")


async def provide_read_conn(
    request: Request[Any, Any, Any], state: State
) -> AsyncGenerator[Conn, None]:
    async with _lag_tolerant(state) as (conn, from_replica):
        setattr(request.state, READ_FROM_REPLICA, from_replica)
        yield conn


async def confirm_missing(
    request: Request[Any, Any, Any], read: Callable[[Conn], Awaitable[T]], conn: Conn
) -> T:
    """`read(conn)` on the request's lag-tolerant connection; when that answers "not found"
    from the replica, `read` once more on the primary: a replica may not have what was created
    a moment ago, and only the primary may say that something does not exist."""
    try:
        return await read(conn)
    except NotFound:
        if not getattr(request.state, READ_FROM_REPLICA, False):
            raise
    async with pooled_connection(request.app.state) as primary:
        return await read(primary)


async def provide_tenant(request: Request[Any, Any, Any], conn: DbConn) -> str:
    """The tenant of the request's bearer token; 401 without a valid one."""
    tenant = authenticated_before(request) or await authenticate(request, conn)
    tracing.annotate(tenant=tenant)
    return tenant


async def provide_tenant_briefly(request: Request[Any, Any, Any], state: State) -> str:
    """`provide_tenant` on a primary connection held only while the token is checked: the
    request's other queries read the replica. Tokens are always checked on the primary, so a
    token works from its creation and stops at its revocation, with no lag."""
    tenant = authenticated_before(request)
    if tenant is None:
        async with pooled_connection(state) as conn:
            tenant = await authenticate(request, conn)
    tracing.annotate(tenant=tenant)
    return tenant


LAG_TOLERANT = {"conn": Provide(provide_read_conn), "tenant": Provide(provide_tenant_briefly)}
"""A route handler's `dependencies` for reads that tolerate SCHEDULER_READ_MAX_LAG_SECONDS of
lag (lists, history, statistics): its services get a replica connection when one is usable
(docs/scaling.md says which routes and why). The services and their tenant scoping are the
same as on the primary: only the connection differs."""


async def provide_schedules(state: State, conn: DbConn, tenant: Tenant) -> ScheduleService:
    return ScheduleService(
        conn,
        tenant,
        target_allowlist=settings_of(state).target_allowlist,
        clock=clock_of(state),
        quotas=quotas_of(settings_of(state)),
        alerts=settings_of(state).alert_policy,
    )


async def provide_runs(state: State, conn: DbConn, tenant: Tenant) -> ExecutionService:
    return ExecutionService(
        conn, tenant, clock=clock_of(state), quotas=quotas_of(settings_of(state))
    )


async def provide_stats(conn: DbConn, tenant: Tenant) -> StatsService:
    return StatsService(conn, tenant)


async def provide_incidents(conn: DbConn, tenant: Tenant) -> IncidentService:
    return IncidentService(conn, tenant)


async def provide_outcomes(state: State, conn: DbConn, tenant: Tenant) -> OutcomeService:
    return OutcomeService(conn, tenant, alerts=settings_of(state).alert_policy)
