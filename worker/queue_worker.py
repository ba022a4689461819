"""Procrastinate's worker as a supervised loop of the worker process (worker/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from worker.service import Service, ServiceConfig


class Runnable(Protocol):
    """What this loop needs of `procrastinate.worker.Worker`."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class QueueWorker(Service[None]):
    """Procrastinate's worker, supervised: when it stops by itself (it does when a side task
    such as its LISTEN connection or heartbeat fails, typically because the database went
    away) or raises, that is logged (`worker.restart`) and a new one starts after the backoff,
    in this process: the batches of the local runner keep running meanwhile. Healthy while it
    runs; `stop()` stops it like its own first SIGTERM would."""

    def __init__(self, make: Callable[[], Runnable], config: ServiceConfig) -> None:
        super().__init__(config)
        self.make = make
        self._current: Runnable | None = None

    async def run_once(self, now: datetime | None) -> None:
        self._current = current = self.make()
        try:
            await self.keep_alive(current.run())
        finally:
            self._current = None
        if not self.stopping:
            raise WorkerStopped

    def pause_after(self, result: None) -> float:
        return 0.0  # only reached when stopping

    def stop(self) -> None:
        super().stop()
        if self._current is not None:
            self._current.stop()


class WorkerStopped(RuntimeError):
    """Procrastinate's worker stopped by itself (a side task failed: the database went away)."""
