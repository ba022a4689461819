"""The alerts watcher of the API processes (issue 12): a supervised loop (app/supervised.py)
that runs `watch_once` every SCHEDULER_ALERT_WATCH_INTERVAL seconds.

Why in the API and not the workers: run.late must be noticed when every worker is down or
frozen, so it is watched from the processes that serve the API, from the database alone.
Every API process runs the loop; one at a time does the work (an advisory lock in
`watch_once`), so more processes cost one cheap query each per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from app.clock import Clock
from app.domain.incidents import AlertPolicy
from app.services.incidents import Watched, watch_once
from app.supervised import Service, ServiceConfig
from db.types import Pool

log = logging.getLogger("app.api.watcher")


class AlertsWatcher(Service[Watched]):
    def __init__(
        self, pool: Pool, policy: AlertPolicy, interval: float, clock: Clock | None = None
    ) -> None:
        super().__init__(
            ServiceConfig("alerts.watch", period=interval, jitter=0.1, max_backoff=interval),
            clock or (lambda: None),
        )
        self.pool = pool
        self.policy = policy

    async def run_once(self, now: datetime | None) -> Watched:
        async with self.pool.connection() as conn:
            watched = await watch_once(conn, self.policy, now=now)
        if watched.recorded.announced or watched.held_announced:
            log.info(
                "incidents announced",
                extra={
                    "event": "alerts.announced",
                    "late": watched.late,
                    "opened": watched.recorded.opened,
                    "announced": watched.recorded.announced + watched.held_announced,
                    "deliveries": watched.recorded.deliveries,
                },
            )
        return watched


@contextlib.asynccontextmanager
async def running(service: Service[Any] | None) -> AsyncIterator[None]:
    """A loop of the API (the alerts watcher, the read router) for the lifetime of the block
    (the API's lifespan); None: nothing to run."""
    if service is None:
        yield
        return
    task = asyncio.create_task(service.run(), name=service.config.name)
    try:
        yield
    finally:
        service.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
