"""Liveness, readiness and metrics: no API token needed (an optional one for /metrics).

`/ready` also fails (503) when a supervised loop of the API has had no successful pass for its
stale time: the alerts watcher (`alertsWatcher` says why) and the read router's probe
(`readReplica` says why). `/ready` and `/metrics` are served from per-process
snapshots (app/api/snapshots.py): however many anonymous requests arrive, each costs the
database at most one computation per interval.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from app.api.deps import pooled_connection, read_connection
from app.errors import Unauthorized
from app.services.health import readiness
from app.services.metrics import render
from app.supervised import Health

READY_CACHE_SECONDS = 1.0
"""A readiness answer is reused for a second: fresh enough for any probe."""


@get("/health", tags=["operations"], summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def watcher_problem(health: Health | None, now: float) -> str | None:
    """Why a loop of the API (the alerts watcher, app/api/watcher.py; the read probe,
    app/api/read_routing.py) counts as dead, or None: no successful pass for its `stale_after`
    (since it started, when it never had one). A dead loop fails the health check (no silent
    death): run.late would go unnoticed, reads would stay on a replica whatever its lag."""
    if health is None:  # not started (an app built without its lifespan, e.g. the docs)
        return None
    since = health.last_success_at or health.started_at
    if now - since <= health.stale_after:
        return None
    error = f", last error {health.last_error}" if health.last_error else ""
    return f"stale: no successful pass for {now - since:.0f} s{error}"


async def _readiness_answer(state: State) -> tuple[dict[str, Any], int]:
    watcher, router = state.get("alerts_watcher"), state.get("read_router")
    now = time.monotonic()
    problem = watcher_problem(watcher.health() if watcher else None, now)
    probe_problem = watcher_problem(router.health() if router else None, now)
    try:
        async with asyncio.timeout(5):
            async with pooled_connection(state) as conn:
                result = await readiness(conn)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503
    ready = result.ready and problem is None and probe_problem is None
    body = {
        "status": "ready" if ready else "unavailable",
        "database": result.database,
        "migrations": result.migrations,
        "alertsWatcher": problem or "ok",
    }
    if router is not None:
        # A replica that is away or behind degrades reads to the primary, which serves them: it
        # does not make the API unready. A probe that stopped working does.
        body["readReplica"] = probe_problem or router.verdict.reason
    return body, 200 if ready else 503


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
    async with read_connection(state) as conn:  # deployment-wide counts: a second of lag is fine
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
    router = state.get("read_router")
    # This process's own read routing: live, not from the shared snapshot.
    return text if router is None else text + router.metrics()
