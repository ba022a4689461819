"""Crashes, shutdowns and database restarts: every run still ends in a recorded state."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from devtools.localpg import LocalCluster
from tests.support.db import create_schedule, executions, wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess


def test_kill_9_mid_request_is_recovered_by_another_worker(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    target.set_delay("slow", 2.0)
    doomed = start_worker()
    schedule = create_schedule(
        database_url, workflow_id="slow", cron_expression="* * * * * *", remaining_runs=1
    )
    target.wait_for(lambda got: len(got) >= 1, timeout=15)  # the request is in flight
    doomed.kill()
    assert executions(database_url, schedule.id)[0]["status"] == "running"
    start_worker()
    run = wait_until(
        lambda: next(
            (e for e in executions(database_url, schedule.id) if e["status"] == "succeeded"), None
        ),
        40,
        "the run to succeed after recovery",
    )
    got = target.requests("slow")
    assert len(got) >= 2, "delivered again (at least once)"
    assert len({r.headers["idempotency-key"] for r in got}) == 1, "with the same key"
    assert run["attempts"] == len(got)
    assert len(executions(database_url, schedule.id)) == 1


def test_sigterm_lets_the_request_finish_and_exits_0(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    target.set_delay("slow", 2.0)
    worker = start_worker()
    schedule = create_schedule(
        database_url, workflow_id="slow", cron_expression="* * * * * *", remaining_runs=1
    )
    target.wait_for(lambda got: len(got) >= 1, timeout=15)
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.log()
    run = executions(database_url, schedule.id)[0]
    assert run["status"] == "succeeded", run
    assert len(target.requests("slow")) == 1


def test_second_sigterm_stops_at_once_and_nothing_is_lost(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    target.set_delay("slow", 20.0)
    worker = start_worker()
    schedule = create_schedule(
        database_url, workflow_id="slow", cron_expression="* * * * * *", remaining_runs=1
    )
    target.wait_for(lambda got: len(got) >= 1, timeout=15)
    worker.signal(signal.SIGTERM)
    time.sleep(0.3)  # let the first signal be handled before the second arrives
    worker.signal(signal.SIGTERM)
    started = time.monotonic()
    worker.wait(timeout=10)
    assert time.monotonic() - started < 5, "the second SIGTERM stops at once"
    target.set_delay("slow", 0.0)
    start_worker()
    wait_until(
        lambda: executions(database_url, schedule.id)[0]["status"] == "succeeded",
        40,
        "the interrupted run to be recovered",
    )


def test_postgres_restart_does_not_end_firing(
    database_url: str,
    pg_cluster: LocalCluster,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker()
    create_schedule(database_url, workflow_id="tick", cron_expression="* * * * * *")
    target.wait_for(lambda got: len(got) >= 2, timeout=15)
    pg_cluster.restart()
    restarted_at = time.time()
    target.wait_for(lambda got: sum(1 for r in got if r.at > restarted_at + 1) >= 3, timeout=30)
    assert worker.alive, "the worker reconnected instead of dying"
