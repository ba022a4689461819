"""The dashboard's routes: login/logout and the page shells (their data comes from the JSON API).

Every page is left out of the OpenAPI schema: they are for browsers, not part of the API's
contract. A page without a valid session redirects to /login (`to_login`, one guard for all:
the page asks for `signed_in`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_303_SEE_OTHER,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
)

from app.api.dashboard.render import render_page
from app.api.dashboard.session import (
    CurrentSession,
    Login,
    SignedIn,
    SignedOut,
    cleared_cookie,
    cookie_must_be_secure,
    same_origin,
    session_cookie,
)
from app.api.deps import DbConn
from app.errors import ScheduleNotFound
from app.services.schedules import ScheduleService


def _redirect(path: str, **kwargs: Any) -> Redirect:
    # 303 so that a POST is followed by a GET.
    return Redirect(path, status_code=HTTP_303_SEE_OTHER, **kwargs)


def to_login(_: Request[Any, Any, Any], __: SignedOut) -> Response[Any]:
    """Every page that needs a session (a `signed_in` parameter) redirects to /login without."""
    return _redirect("/login")


def _login_form(error: str, status_code: int) -> Response[str]:
    hidden = "" if error else "hidden"
    return render_page(
        "login.html",
        title="Log in",
        tenant=None,
        status_code=status_code,
        error=error,
        error_hidden=hidden,
    )


@get("/login", name="dashboard:login", include_in_schema=False)
async def login_page(session: CurrentSession) -> Response[Any]:
    if session.tenant is not None:
        return _redirect("/")
    return _login_form("", 200)


LOGIN_MAX_BODY_BYTES = 16 * 1024
"""The login form carries one token (≤ 500 characters): an anonymous client may not make the
API receive and parse the 1 MiB that API writes may have (413 past this)."""


@post(
    "/login",
    name="dashboard:login-submit",
    include_in_schema=False,
    request_max_body_size=LOGIN_MAX_BODY_BYTES,
)
async def login_submit(request: Request[Any, Any, Any], login: Login) -> Response[Any]:
    if not same_origin(request):
        return _login_form("This form was sent from another site; log in here.", 403)
    if login.tenant is None:
        return _login_form(login.error or "This token is not valid.", HTTP_401_UNAUTHORIZED)
    return _redirect(
        "/", cookies=[session_cookie(login.token, secure=cookie_must_be_secure(request))]
    )


@post("/logout", name="dashboard:logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    if not same_origin(request):
        return Response("cross-site request refused", status_code=HTTP_403_FORBIDDEN)
    return _redirect("/login", cookies=[cleared_cookie(secure=cookie_must_be_secure(request))])


@get("/", name="dashboard:schedules", include_in_schema=False)
async def schedule_list(signed_in: SignedIn) -> Response[Any]:
    return render_page("list.html", title="Schedules", tenant=signed_in, script="list.js")


@get("/incidents", name="dashboard:incidents", include_in_schema=False)
async def incidents_page(signed_in: SignedIn) -> Response[Any]:
    return render_page("incidents.html", title="Incidents", tenant=signed_in, script="incidents.js")


@get("/schedules/new", name="dashboard:new", include_in_schema=False)
async def new_schedule(signed_in: SignedIn) -> Response[Any]:
    return render_page(
        "form.html",
        title="New schedule",
        tenant=signed_in,
        script="form.js",
        heading="New schedule",
        schedule_id="",
        submit_label="Create schedule",
        cancel_href="/",
    )


async def _status_of(conn: DbConn, tenant: str, schedule_id: UUID) -> int:
    """200 when the tenant has this schedule, else 404: the page (a shell whose data comes from
    the API, which answers 404 too) says "Not found" either way, and the status tells the same
    to anything that is not a browser. Another tenant's schedule is not theirs to know about."""
    try:
        await ScheduleService(conn, tenant).get(schedule_id)
    except ScheduleNotFound:
        return HTTP_404_NOT_FOUND
    return HTTP_200_OK


@get("/schedules/{schedule_id:uuid}", name="dashboard:schedule", include_in_schema=False)
async def schedule_page(
    signed_in: SignedIn, schedule_id: FromPath[UUID], conn: DbConn
) -> Response[Any]:
    return render_page(
        "schedule.html",
        title="Schedule",
        tenant=signed_in,
        script="schedule.js",
        status_code=await _status_of(conn, signed_in, schedule_id),
        schedule_id=str(schedule_id),
    )


@get("/schedules/{schedule_id:uuid}/edit", name="dashboard:edit", include_in_schema=False)
async def edit_schedule(
    signed_in: SignedIn, schedule_id: FromPath[UUID], conn: DbConn
) -> Response[Any]:
    return render_page(
        "form.html",
        title="Edit schedule",
        tenant=signed_in,
        script="form.js",
        status_code=await _status_of(conn, signed_in, schedule_id),
        heading="Edit schedule",
        schedule_id=str(schedule_id),
        submit_label="Save changes",
        cancel_href=f"/schedules/{schedule_id}",
    )
