"""Who is calling: the API token (bearer or the dashboard's session cookie), or a workflow's
callback token on the routes that take one, resolved to a tenant."""

from __future__ import annotations

from typing import Any

from litestar import Request

from app.domain.callbacks import TOKEN_PREFIX
from app.errors import Unauthorized
from app.services import tokens
from app.services.outcomes import callback_tenant, load_callback_key
from db.types import Conn

CALLBACK_AUTH = "callback_auth"
"""A route handler `opt` flag: the route also takes the callback token of the execution in its
path (a workflow's report and heartbeat, issue 11), besides the tenant's API tokens."""


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


def authenticated_before(request: Request[Any, Any, Any]) -> str | None:
    """The tenant `authenticate_before_body` (app/api/body.py) found, when it ran."""
    tenant: str | None = getattr(request.state, AUTHENTICATED_TENANT, None)
    return tenant


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
