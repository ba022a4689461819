"""Each API route declares the errors it answers; `document_errors` refuses one that does not."""

from __future__ import annotations

import pytest
from litestar import Router, get
from litestar.routes import HTTPRoute

from app.api.errors import document_errors, error_responses


@get("/declared", responses=error_responses(404))
async def declared() -> str:
    return ""


@get("/undeclared")
async def undeclared() -> str:
    return ""


@get("/things/{thing_id:int}", responses=error_responses())
async def without_404(thing_id: int) -> str:
    return ""


def test_a_route_gets_its_own_errors_and_the_common_ones() -> None:
    router = Router("/api", route_handlers=[declared])
    document_errors(router)
    (handler,) = [
        h
        for route in router.routes
        if isinstance(route, HTTPRoute)
        for h in route.route_handlers
        if "GET" in h.http_methods
    ]
    assert sorted(handler.responses or {}) == [400, 401, 404, 422, 503]


def test_a_route_that_declares_no_errors_is_refused() -> None:
    router = Router("/api", route_handlers=[undeclared])
    with pytest.raises(TypeError, match="undeclared: declare the errors"):
        document_errors(router)


def test_a_route_whose_path_names_a_resource_must_declare_404() -> None:
    router = Router("/api", route_handlers=[without_404])
    with pytest.raises(TypeError, match="without_404: /api/things/{thing_id:int} names a"):
        document_errors(router)
