"""The supervision shape of every worker loop (worker/service.py, issue 10 point 2, H2).

A pass that raises anything (Procrastinate's ConnectorException, a bug) is logged with a stable
`event` key and the loop goes on after a backoff; its health says when it last succeeded. The
old loops caught only psycopg/OS errors and ended on anything else, without a word.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest
from procrastinate.exceptions import ConnectorException

from app.domain.loop_health import REPORT_LOOP, LoopState, WorkerProcess, problems
from worker.queue_worker import QueueWorker
from worker.service import Service, ServiceConfig


class Scripted(Service[int]):
    """Fails with the scripted exceptions, in order, then succeeds."""

    def __init__(self, failures: list[Exception], **config: float) -> None:
        super().__init__(ServiceConfig("test.loop", **{"period": 0.01, "backoff": 0.01, **config}))
        self.failures = failures
        self.nows: list[datetime | None] = []

    async def run_once(self, now: datetime | None) -> int:
        self.nows.append(now)
        if self.failures:
            raise self.failures.pop(0)
        return 1


async def _run_until(service: Service[int], successes: int) -> None:
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(5):
            await service.passed(successes)
    finally:
        service.stop()
        await asyncio.wait_for(task, 5)


async def test_any_exception_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="worker.service")
    service = Scripted([ConnectorException("pool timeout"), KeyError("a bug"), OSError("reset")])
    await _run_until(service, 2)
    assert service.failed_passes == 3 and service.successes >= 2
    events = [(r.__dict__.get("event"), r.__dict__.get("error")) for r in caplog.records]
    assert events[:4] == [
        ("test.loop.error", "ConnectorException"),
        ("test.loop.error", "KeyError"),
        ("test.loop.error", "OSError"),
        ("test.loop.recovered", None),
    ]
    # A bug carries its traceback; the database being away does not.
    tracebacks = [bool(r.exc_info) for r in caplog.records[:3]]
    assert tracebacks == [False, True, False]
    health = service.health()
    assert health.failures == 0 and health.last_error == "OSError"
    assert health.last_success_at is not None


async def test_backoff_doubles_up_to_its_cap() -> None:
    service = Scripted([RuntimeError()] * 5, backoff=1.0, max_backoff=3.0)
    pauses = [service._failed(RuntimeError()) for _ in range(4)]
    assert pauses == [1.0, 2.0, 3.0, 3.0]
    assert service.health().failures == 4


async def test_the_clock_is_passed_to_each_pass() -> None:
    frozen = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    service = Scripted([])
    service.clock = lambda: frozen
    await _run_until(service, 1)
    assert service.nows and set(service.nows) == {frozen}


def test_stale_bound_is_three_periods_and_at_least_the_floor() -> None:
    assert ServiceConfig("x", period=1).stale_after == 30
    assert ServiceConfig("x", period=20).stale_after == 60
    assert ServiceConfig("x", period=1, stale_floor=2).stale_after == 3


async def test_stop_ends_the_wait_at_once() -> None:
    service = Scripted([], period=3600)
    task = asyncio.create_task(service.run())
    async with asyncio.timeout(5):
        await service.passed()
    service.stop()
    await asyncio.wait_for(task, 1)


def _state(process: WorkerProcess, loop: str, silent: float, stale_after: float = 30) -> LoopState:
    at = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    return LoopState(process, loop, stale_after, silent, at, 3, "OperationalError", at)


def test_problems_name_the_worker_and_the_loop() -> None:
    from uuid import uuid4

    healthy, failing, silent = (WorkerProcess(uuid4(), "h", pid) for pid in (1, 2, 3))
    states = [
        _state(healthy, "dispatch", 1),
        _state(healthy, REPORT_LOOP, 1),
        _state(failing, "dispatch", 45),
        _state(failing, REPORT_LOOP, 1),
        _state(silent, "dispatch", 90),
        _state(silent, REPORT_LOOP, 90),
    ]
    found = problems(states)
    assert found == [
        "worker h pid 3: no report for 90 s (ended without notice, or hung)",
        "worker h pid 2: loop dispatch has had no successful pass for 45 s (stale after 30 s; "
        "3 failed passes in a row, last error OperationalError)",
    ]
    assert problems(states, gone=lambda p: p == silent) == found[1:]


class FakeQueueWorker:
    """Stands for Procrastinate's worker: stops by itself at once (`dies`) or runs until
    stopped."""

    def __init__(self, dies: bool) -> None:
        self.dies = dies
        self._stop = asyncio.Event()

    async def run(self) -> None:
        if not self.dies:
            await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


async def test_procrastinate_worker_that_stops_by_itself_is_started_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its worker stops when a side task fails (the database went away): a new one starts in
    the process, logged as `worker.restart`; while one runs the loop counts as healthy."""
    made = [FakeQueueWorker(dies=True), FakeQueueWorker(dies=True), FakeQueueWorker(dies=False)]
    queue = QueueWorker(
        lambda: made.pop(0),
        ServiceConfig("procrastinate", period=0.01, backoff=0.01, error_event="worker.restart"),
    )
    task = asyncio.create_task(queue.run())
    async with asyncio.timeout(5):
        await queue.passed(2, ok=False)
        # The third one runs: its progress is marked every period (a condition, bounded above).
        while queue.health().last_success_at is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert not made and queue.health().failures == 0
    assert [r.__dict__["event"] for r in caplog.records][:2] == ["worker.restart"] * 2
    assert {r.__dict__["error"] for r in caplog.records[:2]} == {"WorkerStopped"}
    queue.stop()  # stops the running worker, like its own first SIGTERM
    await asyncio.wait_for(task, 1)
