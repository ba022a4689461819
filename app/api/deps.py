"""Per-request dependencies: a pooled connection, the caller's tenant, the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, HTTPException, SerializationException

from app import tracing
from app.domain.callbacks import TOKEN_PREFIX
from app.errors import NotFound, Unauthorized
from app.services import tokens
from app.services.incidents import IncidentService
from app.services.outcomes import OutcomeService, callback_tenant, load_callback_key
from app.services.quotas import quotas_of
from app.services.runs import RunService
from app.services.schedules import ScheduleService
from app.services.stats import StatsService
from db.types import Conn as Conn  # re-exported: the routes take it from here

# Handler and provider parameters name their dependencies explicitly (Litestar 3 requires it).
DbConn = NamedDependency[Conn]
Tenant = NamedDependency[str]
Schedules = NamedDependency[ScheduleService]
Runs = NamedDependency[RunService]
StatsDep = NamedDependency[StatsService]
Outcomes = NamedDependency[OutcomeService]
Incidents = NamedDependency[IncidentService]

CALLBACK_AUTH = "callback_auth"
"""A route handler `opt` flag: the route also takes the callback token of the execution in its
path (a workflow's report and heartbeat, issue 11), besides the tenant's API tokens."""


def pooled_connection(state: State) -> AbstractAsyncContextManager[Conn]:
    """A connection from the API's pool; PoolTimeout (answered 503) after
    `API_DATABASE_WAIT_SECONDS` without one."""
    return state.pool.connection(  # type: ignore[no-any-return]
        timeout=state.settings.api_database_wait_seconds
    )


async def provide_conn(state: State) -> AsyncGenerator[Conn, None]:
    """One connection per request, back to the pool afterwards (services own transactions)."""
    async with pooled_connection(state) as conn:
        yield conn


@asynccontextmanager
async def _lag_tolerant(state: State) -> AsyncIterator[tuple[Conn, bool]]:
    """A connection for a read that tolerates lag, and whether it is the replica's: from the
    replica while the API's read router (app/api/read_routing.py, DATABASE_READ_URL) says it
    is fresh enough, else from the primary's pool, as `pooled_connection`."""
    router = state.get("read_router")
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


AUTHENTICATED_TENANT = "authenticated_tenant"
"""Where `authenticate_before_body` leaves the tenant in the request's state for
`provide_tenant`, so a request with a body is not authenticated twice."""


def _authenticated_before(request: Request[Any, Any, Any]) -> str | None:
    tenant: str | None = getattr(request.state, AUTHENTICATED_TENANT, None)
    return tenant


async def provide_tenant(request: Request[Any, Any, Any], conn: DbConn) -> str:
    """The tenant of the request's bearer token; 401 without a valid one."""
    tenant = _authenticated_before(request) or await authenticate(request, conn)
    tracing.annotate(tenant=tenant)
    return tenant


async def provide_tenant_briefly(request: Request[Any, Any, Any], state: State) -> str:
    """`provide_tenant` on a primary connection held only while the token is checked: the
    request's other queries read the replica. Tokens are always checked on the primary, so a
    token works from its creation and stops at its revocation, with no lag."""
    tenant = _authenticated_before(request)
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


async def authenticate(request: Request[Any, Any, Any], conn: Conn) -> str:
    """The request's tenant: from an API token, or, on a route that takes them, from the
    callback token of the execution in its path (the run's own tenant)."""
    token = bearer_token(request)
    if token.startswith(TOKEN_PREFIX) and request.route_handler.opt.get(CALLBACK_AUTH):
        state = request.app.state
        if state.get("callback_key") is None:  # once per process; it never changes
            state.callback_key = await load_callback_key(conn)
        return await callback_tenant(
            conn, state.callback_key, request.path_params["execution_id"], token
        )
    return await tokens.authenticate(conn, token)


async def provide_schedules(state: State, conn: DbConn, tenant: Tenant) -> ScheduleService:
    return ScheduleService(
        conn,
        tenant,
        target_allowlist=state.settings.target_allowlist,
        clock=state.clock,
        quotas=quotas_of(state.settings),
        alerts=state.settings.alert_policy,
    )


async def provide_runs(state: State, conn: DbConn, tenant: Tenant) -> RunService:
    return RunService(conn, tenant, clock=state.clock, quotas=quotas_of(state.settings))


async def provide_stats(conn: DbConn, tenant: Tenant) -> StatsService:
    return StatsService(conn, tenant)


async def provide_incidents(conn: DbConn, tenant: Tenant) -> IncidentService:
    return IncidentService(conn, tenant)


async def provide_outcomes(state: State, conn: DbConn, tenant: Tenant) -> OutcomeService:
    return OutcomeService(conn, tenant, alerts=state.settings.alert_policy)


MAX_JSON_DEPTH = 64
"""Nesting levels a request body may have: far more than any schedule needs, far fewer than
what would exhaust the decoder's or the database's recursion limits."""


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` (decoded JSON) nests arrays and objects deeper than `limit` levels."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _has_body(request: Request[Any, Any, Any]) -> bool:
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    length = request.headers.get("content-length", "0")
    return length not in ("", "0") or bool(request.headers.get("transfer-encoding"))


async def authenticate_before_body(request: Request[Any, Any, Any]) -> None:
    """The API router's `before_request` hook: a request with a body is authenticated first,
    and only then is its body received and decoded.

    Litestar reads and decodes the body (the handler's `data`) before it resolves any
    dependency, `provide_tenant` included; without this hook an anonymous client could make
    the API receive 1 MiB and walk hundreds of thousands of JSON containers, in Python, on the
    event loop, for a 401. Here an anonymous request gets its 401 before one byte of its body
    is read (a missing token costs no database query either).

    Then the body checks: it must be JSON (anything else is 415, not a parse error), and JSON
    that cannot be decoded or nests too deeply is a 400 that says so, never a 500. The body is
    decoded here once; Litestar keeps the result for the handler's `data`.
    """
    if not _has_body(request):
        return
    bearer_token(request)  # a request without any token is refused before any query
    async with pooled_connection(request.app.state) as conn:
        tenant = await authenticate(request, conn)
    setattr(request.state, AUTHENTICATED_TENANT, tenant)
    await require_json_body(request)


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type must be application/json, not {media_type or 'missing'}",
        )
    if not await request.body():
        return
    try:
        document = await request.json()
    except SerializationException as exc:
        raise ClientException(f"body: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, unwrapped, for bad bytes inside strings
        raise ClientException("body: a string is not valid UTF-8 (JSON must be UTF-8)") from None
    except RecursionError:
        document = None  # nested beyond the decoder's own limit
    else:
        if not json_depth_exceeds(document, MAX_JSON_DEPTH):
            return
    raise ClientException(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
