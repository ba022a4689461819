"""The API's composition root: `create_app(settings)` builds and wires everything once."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins.pydantic import PydanticPlugin

from app import tracing
from app.adapters.cache import create_cache
from app.api.body import authenticate_before_body
from app.api.dashboard import dashboard_handlers
from app.api.deps import (
    provide_conn,
    provide_incidents,
    provide_outcomes,
    provide_runs,
    provide_schedules,
    provide_stats,
    provide_tenant,
)
from app.api.errors import EXCEPTION_HANDLERS, document_errors
from app.api.openapi import docs_assets, openapi_config
from app.api.ratelimit import TokenBucket
from app.api.read_routing import ReadRouter
from app.api.routes.alert_channels import AlertChannelController
from app.api.routes.batch import schedule_batch
from app.api.routes.compat import CompatController
from app.api.routes.health import READY_CACHE_SECONDS, health, ready
from app.api.routes.incidents import IncidentController
from app.api.routes.metrics import metrics
from app.api.routes.runs import ExecutionController, ScheduleRunsController
from app.api.routes.schedules import ScheduleController, list_timezones
from app.api.routes.stats import overall_stats
from app.api.snapshots import Snapshot
from app.api.state import clock_of, settings_of
from app.api.watcher import AlertsWatcher, running
from app.clock import Clock
from app.settings import Settings
from db.pool import create_pool
from db.types import Pool

MAX_BODY_BYTES = 1024 * 1024  # SPEC: bodies over 1 MiB get 413
POOL_SIZE = 10


def read_router(settings: Settings, primary: Pool) -> ReadRouter | None:
    """The router of lag-tolerant reads when DATABASE_READ_URL is set (else every read uses
    the primary's pool)."""
    if settings.database_read_url is None:
        return None
    return ReadRouter(
        primary, settings.database_read_url, settings.scheduler_read_max_lag_seconds, POOL_SIZE
    )


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
    """What the handlers share, opened before the first request and closed after the last: the
    pool, the read cache, the alerts watcher and the read router (each with app.state)."""
    settings, clock = settings_of(app.state), clock_of(app.state)
    pool = create_pool(settings.database_url, min_size=1, max_size=POOL_SIZE, name="api")
    await pool.open(wait=False)
    app.state.pool = pool
    app.state.cache = create_cache(settings.redis_url)
    watcher = AlertsWatcher(
        pool, settings.alert_policy, settings.scheduler_alert_watch_interval, clock
    )
    app.state.alerts_watcher = watcher
    router = read_router(settings, pool)
    app.state.read_router = router
    try:
        async with running(watcher), running(router):
            yield
    finally:
        await app.state.cache.close()
        if router is not None:
            await router.close()
        await pool.close()


def create_app(settings: Settings, *, clock: Clock | None = None) -> Litestar:
    """The Litestar app. `clock` overrides the database clock (tests inject time with it)."""

    api = Router(
        path="/",
        route_handlers=[
            ScheduleController,
            schedule_batch,
            ScheduleRunsController,
            ExecutionController,
            CompatController,
            list_timezones,
            overall_stats,
            IncidentController,
            AlertChannelController,
        ],
        before_request=authenticate_before_body,
        dependencies={
            "tenant": Provide(provide_tenant),
            "schedules": Provide(provide_schedules),
            "runs": Provide(provide_runs),
            "stats": Provide(provide_stats),
            "outcomes": Provide(provide_outcomes),
            "incidents": Provide(provide_incidents),
        },
        security=[{"bearer": []}],
    )
    document_errors(api)
    return Litestar(
        route_handlers=[
            health,
            ready,
            metrics,
            api,
            *dashboard_handlers,
            docs_assets(),
        ],
        dependencies={"conn": Provide(provide_conn)},
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        # A span per request only while tracing is on (app/tracing.py): off, no middleware.
        middleware=[tracing.TRACER.asgi] if tracing.TRACER is not None else [],
        # Logging is configured once per process by `app.logging.configure_logging` (JSON, and a
        # filter that redacts secrets). Litestar's default config would replace the root
        # logger's handlers when the app is built, silently dropping that filter.
        logging_config=None,
        plugins=[PydanticPlugin(prefer_alias=True)],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=openapi_config(),
        state=State(
            {
                "settings": settings,
                "clock": clock,
                "metrics_snapshot": Snapshot[str](settings.metrics_cache_seconds),
                "ready_snapshot": Snapshot[tuple[dict[str, Any], int]](READY_CACHE_SECONDS),
                "run_limiter": TokenBucket(
                    settings.scheduler_trigger_rate, settings.scheduler_trigger_burst
                ),
                "report_limiter": TokenBucket(
                    settings.scheduler_report_rate, settings.scheduler_report_burst
                ),
                "callback_key": None,
            }
        ),
        debug=False,
    )
