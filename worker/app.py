"""The worker's composition root: the Procrastinate App that `procrastinate --app=worker.app
worker` (or `make worker`) runs.

Starting the worker also starts this process's dispatcher and maintenance loops (SPEC §4.2);
the first SIGTERM stops them and Procrastinate's fetching, lets running batches finish for up
to SCHEDULER_SHUTDOWN_TIMEOUT, and exits 0; a second SIGTERM exits at once (runs left behind
are recovered by the other workers' maintenance). If the database goes away the worker does
not die with it: the Procrastinate worker is started again once the database answers.
Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from procrastinate import App, PsycopgConnector

from app.logging import configure_logging
from app.settings import Settings, load_settings
from db.jobs import EXECUTIONS_QUEUE
from worker import tasks
from worker.runtime import WorkerRuntime

log = logging.getLogger("worker")
RESTART_DELAY = 1.0


class SchedulerApp(App):
    """A Procrastinate App whose worker also runs the scheduler's loops."""

    settings: Settings

    async def run_worker_async(self, **kwargs: Any) -> None:
        configure_logging(self.settings)
        options: dict[str, Any] = {
            "queues": [EXECUTIONS_QUEUE],
            "concurrency": self.settings.scheduler_worker_concurrency,
            "shutdown_graceful_timeout": self.settings.scheduler_shutdown_timeout,
            "delete_jobs": "successful",
            # Retries and delayed runs are found by polling (NOTIFY only covers new jobs).
            "fetch_job_polling_interval": 0.5,
            "update_heartbeat_interval": self.settings.scheduler_heartbeat_interval,
            "stalled_worker_timeout": self.settings.scheduler_stalled_after,
            **kwargs,
        }
        stopping = asyncio.Event()
        async with WorkerRuntime(self, self.settings) as runtime:
            runtime.start_loops()
            while not stopping.is_set():
                worker = self._worker(**options)
                procrastinate_stop = worker.stop

                def stop(procrastinate_stop: Any = procrastinate_stop) -> None:
                    stopping.set()
                    runtime.stop_loops()
                    procrastinate_stop()

                worker.stop = stop  # type: ignore[method-assign]
                try:
                    await worker.run()  # type: ignore[no-untyped-call]
                    return
                except Exception as exc:
                    if stopping.is_set():
                        raise
                    log.warning(
                        "worker lost the database; starting again",
                        extra={"event": "worker.restart", "error": type(exc).__name__},
                    )
                    await asyncio.sleep(RESTART_DELAY)


def build_app() -> SchedulerApp:
    settings = load_settings()
    connector = PsycopgConnector(
        conninfo=settings.database_url,
        min_size=1,
        max_size=settings.scheduler_worker_concurrency + 4,
    )
    app = SchedulerApp(connector=connector)
    app.settings = settings
    tasks.register(app)
    return app


app = build_app()
