"""The web dashboard (SPEC §1): HTML shells and vanilla JS modules over the JSON API.

`dashboard_handlers` is what `create_app` registers: the pages (with their session
dependencies) and the static assets at `/static`. Every asset ships from `static/`; nothing is
loaded from another host.
"""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from app.api.dashboard.pages import (
    edit_schedule,
    incidents_page,
    login_page,
    login_submit,
    logout,
    new_schedule,
    schedule_list,
    schedule_page,
    to_login,
)
from app.api.dashboard.render import STATIC_DIR
from app.api.dashboard.session import (
    SignedOut,
    provide_login,
    provide_session,
    provide_signed_in,
)

_pages = Router(
    path="/",
    route_handlers=[
        login_page,
        login_submit,
        logout,
        schedule_list,
        new_schedule,
        schedule_page,
        edit_schedule,
        incidents_page,
    ],
    dependencies={
        "session": Provide(provide_session),
        "signed_in": Provide(provide_signed_in),
        "login": Provide(provide_login),
    },
    exception_handlers={SignedOut: to_login},
    include_in_schema=False,
)

# Assets are not fingerprinted (no build step), so browsers must not keep a stale copy across a
# deploy: `no-cache` makes them ask again on every page load. Litestar 2.25's static router does
# not answer conditional requests with 304, so that is a full download, ~55 KB in all: cheap for
# a dashboard, and the price of having no build step.
_static = create_static_files_router(
    path="/static",
    directories=[STATIC_DIR],
    cache_control=CacheControlHeader(no_cache=True),
    include_in_schema=False,
)

dashboard_handlers = [_pages, _static]

__all__ = ["dashboard_handlers"]
