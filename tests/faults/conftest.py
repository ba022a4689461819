"""Fault-injection suite (issue 6): real worker processes, a real target, real faults.

Every scenario has a short version that always runs in `make test` and a long one under
`make soak` (SOAK=1): `scaled(short, long)` picks the size. Each test records what it ran and
what it measured with `figures(...)`; the figures are printed at the end of the run and, when
FAULTS_REPORT names a file, written there as JSON (docs/reliability.md is made from them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess

SOAK = os.environ.get("SOAK", "") not in ("", "0")
T = TypeVar("T")

_FIGURES: dict[str, dict[str, Any]] = {}


def scaled(short: T, long: T) -> T:
    """The short size in `make test`, the long one under `make soak`."""
    return long if SOAK else short


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record this test's figures (merged over several calls)."""

    def record(**values: Any) -> None:
        entry = _FIGURES.setdefault(request.node.name, {"soak": SOAK})
        entry.update(values)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("fault-injection figures")
    for name, values in _FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(values, default=str)}")
    report = os.environ.get("FAULTS_REPORT")
    if report:
        Path(report).write_text(
            json.dumps(
                {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "soak": SOAK, "tests": _FIGURES},
                indent=2,
                default=str,
            )
        )


class Workers:
    """Worker processes of one test; whatever is still running at the end is stopped."""

    def __init__(self, database_url: str, target: RecordingTarget) -> None:
        self.database_url = database_url
        self.target = target
        self.started: list[WorkerProcess] = []

    def start(self, wait: bool = True, **env: str) -> WorkerProcess:
        env.setdefault("SCHEDULER_SHUTDOWN_TIMEOUT", "5")
        worker = WorkerProcess(self.database_url, self.target.url_template(), **env).start()
        self.started.append(worker)
        if wait:
            worker.wait_registered()
        return worker

    @property
    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.started if w.alive]

    def stop_all(self) -> None:
        running = self.alive
        for worker in running:  # one SIGTERM each (a second one would stop at once)
            worker.signal(signal.SIGTERM)
        for worker in running:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
def workers(database_url: str, target: RecordingTarget) -> Iterator[Workers]:
    pool = Workers(database_url, target)
    try:
        yield pool
    finally:
        pool.stop_all()
