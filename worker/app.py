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
import signal
from typing import Any

from procrastinate import App, PsycopgConnector

from app import tracing
from app.logging import configure_logging
from app.settings import Settings, load_settings
from db.jobs import EXECUTIONS_QUEUE, MAINTENANCE_QUEUE
from worker import tasks
from worker.queue_worker import QueueWorker
from worker.runtime import WorkerRuntime
from worker.service import ServiceConfig

log = logging.getLogger("worker")
RESTART_DELAY = 1.0


class SchedulerApp(App):
    """A Procrastinate App whose worker also runs the scheduler's loops."""

    settings: Settings

    async def run_worker_async(self, **kwargs: Any) -> None:
        self.settings.require_signing_secret()  # also on `procrastinate --app=worker.app worker`
        configure_logging(self.settings)
        tracing.setup("workflow-scheduler-worker")
        options: dict[str, Any] = {
            "queues": [EXECUTIONS_QUEUE, MAINTENANCE_QUEUE],
            "concurrency": self.settings.scheduler_worker_concurrency,
            "shutdown_graceful_timeout": self.settings.scheduler_shutdown_timeout,
            "delete_jobs": "successful",
            # Retries and delayed runs are found by polling (NOTIFY only covers new jobs).
            "fetch_job_polling_interval": 0.5,
            "update_heartbeat_interval": self.settings.scheduler_heartbeat_interval,
            "stalled_worker_timeout": self.settings.scheduler_stalled_after,
            **kwargs,
            # Our handlers, not Procrastinate's: its worker also stops itself when the
            # database goes away, and that must restart it, not stop the process.
            "install_signal_handlers": False,
        }
        async with WorkerRuntime(self, self.settings) as runtime:
            queue_worker = QueueWorker(
                lambda: self._worker(**options),
                ServiceConfig(
                    "procrastinate",
                    period=self.settings.scheduler_heartbeat_interval,
                    backoff=RESTART_DELAY,
                    max_backoff=5.0,
                    stale_floor=self.settings.scheduler_loop_stale_after,
                    error_event="worker.restart",
                ),
            )
            loop = asyncio.get_running_loop()

            def on_signal() -> None:
                """First SIGTERM/SIGINT: stop taking work, let running batches finish. The
                default handlers come back, so a second signal ends the process at once."""
                runtime.stop_loops()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
                    signal.signal(signum, signal.SIG_DFL)

            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, on_signal)
            runtime.start_loops(queue_worker)
            await queue_worker.run()
        # The spans still queued are exported before the process ends (up to the exporter's
        # timeout), off the event loop.
        await asyncio.to_thread(tracing.shutdown)


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
