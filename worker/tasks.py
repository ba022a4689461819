"""Procrastinate tasks. Thin: they name the work and hand it to the runtime's services."""

from __future__ import annotations

from uuid import UUID

from procrastinate import App

from db.jobs import EXECUTIONS_QUEUE, RUN_BATCH_TASK
from worker.runtime import current


def register(app: App) -> None:
    @app.task(name=RUN_BATCH_TASK, queue=EXECUTIONS_QUEUE)
    async def run_batch(execution_ids: list[str]) -> None:
        """Attempt every run of one batch (their rows say which attempt and what to send)."""
        await current().executor.run_batch([UUID(i) for i in execution_ids])
