"""Per-request dependencies: a pooled connection, the caller's tenant, the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException, SerializationException
from psycopg import AsyncConnection

from app.errors import Unauthorized
from app.services import tokens
from app.services.quotas import quotas_of
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
        conn,
        tenant,
        target_allowlist=state.settings.target_allowlist,
        clock=state.clock,
        quotas=quotas_of(state.settings),
    )


async def provide_runs(state: State, conn: DbConn, tenant: Tenant) -> RunService:
    return RunService(conn, tenant, clock=state.clock, quotas=quotas_of(state.settings))


async def provide_stats(conn: DbConn, tenant: Tenant) -> StatsService:
    return StatsService(conn, tenant)


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


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """A body on an API write must be JSON (anything else is 415, not a parse error), and JSON
    that cannot be decoded or nests too deeply is a 400 that says so, never a 500.

    The body is decoded here once; Litestar keeps the result for the handler's `data`.
    """
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
