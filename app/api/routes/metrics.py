"""/metrics: the whole deployment in the Prometheus text format (SPEC §7). Anonymous unless
METRICS_TOKEN is set.

Served from a per-process snapshot (app/api/snapshots.py, METRICS_CACHE_SECONDS): however many
anonymous requests arrive, each interval costs the database at most one computation.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, get
from litestar.datastructures import State

from app.api import metrics_text
from app.api.deps import read_connection
from app.api.state import metrics_snapshot_of, read_router_of, settings_of
from app.errors import Unauthorized
from app.services.metrics import collect


def _require_metrics_token(request: Request[Any, Any, Any], state: State) -> None:
    """With METRICS_TOKEN set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`."""
    expected = settings_of(state).metrics_token.get_secret_value()
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise Unauthorized("/metrics needs the METRICS_TOKEN as a bearer token")


async def _render(state: State) -> str:
    async with read_connection(state) as conn:  # deployment-wide counts: a second of lag is fine
        numbers = await collect(conn)
    return metrics_text.render(numbers)


@get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics of the whole deployment",
    media_type="text/plain; version=0.0.4",
)
async def metrics(request: Request[Any, Any, Any], state: State) -> str:
    _require_metrics_token(request, state)
    text: str = await metrics_snapshot_of(state).get(lambda: _render(state))
    router = read_router_of(state)
    # This process's own read routing: live, not from the shared snapshot.
    return text if router is None else text + router.metrics()
