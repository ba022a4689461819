"""Liveness and readiness; no token needed."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from app.services.health import readiness
from app.services.metrics import render


@get("/health", tags=["operations"], summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["operations"], summary="Database reachable and migrations at head")
async def ready(state: State) -> Response[dict[str, Any]]:
    try:
        async with asyncio.timeout(5):
            async with state.pool.connection() as conn:
                result = await readiness(conn)
    except Exception as exc:  # any failure to reach the database means "not ready"
        body = {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}
        return Response(body, status_code=503)
    body = {
        "status": "ready" if result.ready else "unavailable",
        "database": result.database,
        "migrations": result.migrations,
    }
    return Response(body, status_code=200 if result.ready else 503)


@get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics of the whole deployment",
    media_type="text/plain; version=0.0.4",
)
async def metrics(state: State) -> str:
    async with state.pool.connection() as conn:
        return await render(conn)
