"""Typed access to what the app keeps in Litestar's `State`, an untyped bag: `create_app` puts
the settings, clock, limiters and snapshots there, its lifespan the pool, cache, alerts watcher
and read router. Handlers and providers read them through these functions, so mypy checks
what they do with them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from litestar.datastructures import State

if TYPE_CHECKING:
    from app.adapters.cache import Cache
    from app.api.ratelimit import TokenBucket
    from app.api.read_routing import ReadRouter
    from app.api.snapshots import Snapshot
    from app.api.watcher import AlertsWatcher
    from app.clock import Clock
    from app.settings import Settings
    from db.types import Pool


def settings_of(state: State) -> Settings:
    return cast("Settings", state.settings)


def clock_of(state: State) -> Clock | None:
    """The injected clock (tests), or None: the services then ask the database."""
    return cast("Clock | None", state.clock)


def pool_of(state: State) -> Pool:
    return cast("Pool", state.pool)


def cache_of(state: State) -> Cache:
    return cast("Cache", state.cache)


def run_limiter_of(state: State) -> TokenBucket:
    """Manual runs and backfills, per tenant (SCHEDULER_TRIGGER_RATE)."""
    return cast("TokenBucket", state.run_limiter)


def report_limiter_of(state: State) -> TokenBucket:
    """Workflows' reports and heartbeats, per tenant (SCHEDULER_REPORT_RATE)."""
    return cast("TokenBucket", state.report_limiter)


def read_router_of(state: State) -> ReadRouter | None:
    """None without DATABASE_READ_URL, or before the lifespan ran."""
    return cast("ReadRouter | None", state.get("read_router"))


def alerts_watcher_of(state: State) -> AlertsWatcher | None:
    """None before the lifespan ran (an app built only for its OpenAPI document)."""
    return cast("AlertsWatcher | None", state.get("alerts_watcher"))


def metrics_snapshot_of(state: State) -> Snapshot[str]:
    return cast("Snapshot[str]", state.metrics_snapshot)


def ready_snapshot_of(state: State) -> Snapshot[tuple[dict[str, Any], int]]:
    return cast("Snapshot[tuple[dict[str, Any], int]]", state.ready_snapshot)
