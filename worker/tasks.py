"""Procrastinate tasks. Thin: they name the work and hand it to the runtime's services."""

from __future__ import annotations

import logging
from uuid import UUID

from procrastinate import App

from app.services.retention import prune
from db.jobs import EXECUTIONS_QUEUE, MAINTENANCE_QUEUE, PRUNE_TASK, RUN_BATCH_TASK
from worker.runtime import current

log = logging.getLogger("worker.tasks")


def register(app: App) -> None:
    @app.task(name=RUN_BATCH_TASK, queue=EXECUTIONS_QUEUE)
    async def run_batch(execution_ids: list[str]) -> None:
        """Attempt every run of one batch (their rows say which attempt and what to send)."""
        await current().local.run_fetched([UUID(i) for i in execution_ids])

    @app.periodic(cron="*/10 * * * *", periodic_id="retention")
    @app.task(name=PRUNE_TASK, queue=MAINTENANCE_QUEUE, queueing_lock=PRUNE_TASK)
    async def prune_history(timestamp: int) -> None:
        """Every 10 minutes: expired history and finished jobs, in short batches."""
        runtime = current()
        async with runtime.pool.connection() as conn:
            pruned = await prune(conn, runtime.settings.scheduler_history_retention_days)
        log.info(
            "pruned history",
            extra={
                "event": "retention.pruned",
                "executions": pruned.executions,
                "jobs": pruned.jobs,
            },
        )
