"""Liveness, readiness and metrics: no API token needed (an optional one for /metrics).

`/ready` and `/metrics` are served from per-process snapshots (app/api/snapshots.py): however
many anonymous requests arrive, each costs the database at most one computation per interval.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from app.api.deps import pooled_connection
from app.errors import Unauthorized
from app.services.health import readiness
from app.services.metrics import render

READY_CACHE_SECONDS = 1.0
"""A readiness answer is reused for a second: fresh enough for any probe."""


@get("/health", tags=["operations"], summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _readiness_answer(state: State) -> tuple[dict[str, Any], int]:
    try:
        async with asyncio.timeout(5):
            async with pooled_connection(state) as conn:
                result = await readiness(conn)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503
    body = {
        "status": "ready" if result.ready else "unavailable",
        "database": result.database,
        "migrations": result.migrations,
    }
    return body, 200 if result.ready else 503


@get("/ready", tags=["operations"], summary="Database reachable and migrations at head")
async def ready(state: State) -> Response[dict[str, Any]]:
    body, status = await state.ready_snapshot.get(lambda: _readiness_answer(state))
    return Response(body, status_code=status)


def _require_metrics_token(request: Request[Any, Any, Any], state: State) -> None:
    """With METRICS_TOKEN set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`."""
    expected = state.settings.metrics_token.get_secret_value()
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise Unauthorized("/metrics needs the METRICS_TOKEN as a bearer token")


async def _render(state: State) -> str:
    async with pooled_connection(state) as conn:
        return await render(conn)


@get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics of the whole deployment",
    media_type="text/plain; version=0.0.4",
)
async def metrics(request: Request[Any, Any, Any], state: State) -> str:
    _require_metrics_token(request, state)
    text: str = await state.metrics_snapshot.get(lambda: _render(state))
    return text
