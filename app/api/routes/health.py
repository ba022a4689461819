"""Liveness and readiness: no API token needed (/metrics is in routes/metrics.py).

`/ready` also fails (503) when a supervised loop of the API has had no successful pass for its
stale time: the alerts watcher (`alertsWatcher` says why) and the read router's probe
(`readReplica` says why). `/ready` is served from a per-process snapshot
(app/api/snapshots.py): however many anonymous requests arrive, each costs the database at
most one computation per second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from app.api.deps import pooled_connection
from app.api.state import alerts_watcher_of, read_router_of, ready_snapshot_of
from app.services.health import readiness
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
    watcher, router = alerts_watcher_of(state), read_router_of(state)
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
    body, status = await ready_snapshot_of(state).get(lambda: _readiness_answer(state))
    return Response(body, status_code=status)
