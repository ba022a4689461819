"""One shape for every background loop (STYLE 17, River's Config + Start + runOnce): the
worker's, and the API's alerts watcher.

A `Service` is a `ServiceConfig`, a `run_once(now)` that does one pass and returns its result,
and a `run()` that supervises it until `stop()`:

- any exception of a pass (a database error, Procrastinate's `ConnectorException`, a bug) is
  logged with a stable `event` key (`<name>.error`), and the loop waits (a backoff that
  doubles from `backoff` up to `max_backoff` while passes keep failing) and goes on; only
  cancellation ends it otherwise. A loop never dies silently (H2).
- a pass that succeeds after failures is logged once (`<name>.recovered`);
- `health()` says when the loop last succeeded: the worker reports it to the database
  (worker/health.py) so that `scheduler check` and `/metrics` see a loop that has had no
  successful pass for `stale_after` = max(`stale_floor`, 3 × `period`) seconds;
- tests wait on `passed()` instead of sleeping.

`now` is what the pass should take as the current instant: None in production (every query
falls back to the database clock, SPEC §4.1), a frozen instant in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import psycopg
from procrastinate.exceptions import ConnectorException

log = logging.getLogger("worker.service")  # the name operators already filter on
R = TypeVar("R")
T = TypeVar("T")

# Failures that are the environment's (the database away, a pool timeout), not a bug: logged
# without a traceback. Procrastinate wraps every psycopg error of its connector in
# ConnectorException, which is not a psycopg.Error, so both are named.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.Error,
    ConnectorException,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str  # stable: in log events, in /metrics and in `scheduler check`
    period: float  # a healthy loop completes a pass at least this often (seconds)
    backoff: float = 1.0  # first wait after a failed pass; doubles while passes keep failing
    max_backoff: float = 10.0
    jitter: float = 0.0  # ± this fraction of `period` between passes (spreads workers out)
    stale_floor: float = 30.0  # a loop is stale only after at least this long without success
    error_event: str | None = None  # the `event` of a failed pass; default `<name>.error`

    @property
    def stale_after(self) -> float:
        """Seconds without a successful pass after which the loop counts as stale."""
        return max(self.stale_floor, 3 * self.period)


@dataclass(frozen=True, slots=True)
class Health:
    """A loop's state for the health report; instants are `time.monotonic()`."""

    name: str
    stale_after: float
    started_at: float
    last_success_at: float | None
    failures: int  # consecutive failed passes (0 after a success)
    last_error: str | None  # the exception's type name only: messages may carry secrets


def database_clock() -> datetime | None:
    """Production's `now`: None, so SQL reads the database clock."""
    return None


class Service(ABC, Generic[R]):
    """A supervised loop: subclasses implement `run_once`; `run` never raises but on cancel."""

    def __init__(
        self, config: ServiceConfig, clock: Callable[[], datetime | None] = database_clock
    ) -> None:
        self.config = config
        self.clock = clock
        self.successes = 0
        self.failed_passes = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._passed = asyncio.Condition()
        self._started_at = time.monotonic()
        self._last_success: float | None = None
        self._failures = 0
        self._last_error: str | None = None
        # Its own generator: a loop that ran in a test process drew from the global one, which
        # Hypothesis watches (a draw in another thread fails the property test in progress).
        self._rng = random.Random()  # noqa: S311 - spreading passes, not security

    @abstractmethod
    async def run_once(self, now: datetime | None) -> R:
        """One pass. Raise on failure: `run` logs it and tries again after a backoff."""

    def pause_after(self, result: R) -> float:
        """Seconds to wait after a successful pass: the period (± jitter) unless overridden."""
        spread = self._rng.uniform(-self.config.jitter, self.config.jitter)
        return self.config.period * (1 + spread)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """End the current wait between passes now (e.g. a notification arrived)."""
        self._wake.set()

    def progress(self) -> None:
        """Count a long-running pass as healthy so far (see `keep_alive`)."""
        self._mark_success()

    def health(self) -> Health:
        return Health(
            self.config.name,
            self.config.stale_after,
            self._started_at,
            self._last_success,
            self._failures,
            self._last_error,
        )

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # a wake() during the pass ends the next wait at once
            try:
                result = await self.run_once(self.clock())
            except Exception as exc:
                pause = self._failed(exc)
            else:
                pause = self._succeeded(result)
            async with self._passed:
                self._passed.notify_all()
            if pause > 0 and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=pause)

    async def keep_alive(self, pass_: Awaitable[T]) -> T:
        """Await a pass that runs for a long time (a connection that listens, Procrastinate's
        worker), counting it as healthy every `period` while it runs."""
        task = asyncio.ensure_future(pass_)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.config.period)
                if done:
                    return task.result()
                self.progress()
        finally:
            if not task.done():  # this pass was cancelled: so is what it awaited
                task.cancel()
                await asyncio.wait({task})  # the cancellation goes on; this is not re-raised
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    log.debug(
                        "%s: a cancelled pass ended with an error",
                        self.config.name,
                        extra={
                            "event": f"{self.config.name}.cancel_error",
                            "error": type(error).__name__,
                        },
                    )

    async def passed(self, count: int = 1, *, ok: bool = True) -> None:
        """Test hook: return once `count` more passes have succeeded (or, with ok=False,
        failed) than when called. Callers bound the wait (`asyncio.timeout`)."""

        def counter() -> int:
            return self.successes if ok else self.failed_passes

        target = counter() + count
        async with self._passed:
            await self._passed.wait_for(lambda: counter() >= target)

    def _succeeded(self, result: R) -> float:
        self.successes += 1
        self._mark_success()
        return self.pause_after(result)

    def _mark_success(self) -> None:
        if self._failures:
            log.info(
                "%s works again after %d failed passes",
                self.config.name,
                self._failures,
                extra={"event": f"{self.config.name}.recovered", "failures": self._failures},
            )
        self._last_success = time.monotonic()
        self._failures = 0

    def _failed(self, exc: Exception) -> float:
        self.failed_passes += 1
        self._failures += 1
        self._last_error = type(exc).__name__
        pause = min(self.config.max_backoff, self.config.backoff * 2.0 ** (self._failures - 1))
        log.log(
            logging.WARNING if isinstance(exc, EXPECTED_ERRORS) else logging.ERROR,
            "%s pass failed; retrying in %.1f s",
            self.config.name,
            pause,
            exc_info=not isinstance(exc, EXPECTED_ERRORS),  # a bug: its traceback
            extra={
                "event": self.config.error_event or f"{self.config.name}.error",
                "loop": self.config.name,
                "error": type(exc).__name__,
                "failures": self._failures,
            },
        )
        return pause
