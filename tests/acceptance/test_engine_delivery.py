"""Retries with backoff, permanent failures, and what each attempt carries (SPEC §5)."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.db import create_schedule, executions, wait_until
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess


def _final(database_url: str, schedule_id: object) -> dict[str, object]:
    return wait_until(
        lambda: next(
            (
                e
                for e in executions(database_url, schedule_id)  # type: ignore[arg-type]
                if e["status"] in ("succeeded", "failed")
            ),
            None,
        ),
        40,
        "a finished run",
    )


def test_retries_with_backoff_then_succeeds(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    target.script("flaky", [Response(503), Response(503), Response(200, {"runId": "run-42"})])
    start_worker()
    schedule = create_schedule(
        database_url,
        workflow_id="flaky",
        cron_expression="* * * * * *",
        remaining_runs=1,
        retry_backoff_seconds=1,
    )
    run = _final(database_url, schedule.id)
    assert run["status"] == "succeeded"
    assert run["attempts"] == 3
    assert run["workflow_run_id"] == "run-42"
    assert len(executions(database_url, schedule.id)) == 1
    got = target.requests("flaky")
    assert [r.headers["x-scheduler-attempt"] for r in got] == ["1", "2", "3"]
    assert len({r.headers["idempotency-key"] for r in got}) == 1
    assert len({r.headers["webhook-id"] for r in got}) == 1, "webhook-id is the execution id"
    first_gap, second_gap = got[1].at - got[0].at, got[2].at - got[1].at
    # Backoff doubles from 1 s with ±20 % jitter (plus up to a second of job-polling slack).
    assert 0.8 <= first_gap < 3.5, first_gap
    assert 1.6 <= second_gap < 4.5, second_gap


def test_client_error_fails_at_once(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    target.script("broken", [Response(400, b"bad workflow input")])
    start_worker()
    schedule = create_schedule(
        database_url, workflow_id="broken", cron_expression="* * * * * *", remaining_runs=1
    )
    run = _final(database_url, schedule.id)
    assert run["status"] == "failed"
    assert run["attempts"] == 1
    assert run["http_status"] == 400
    assert "bad workflow input" in str(run["error"])
    assert run["finished_at"] is not None and run["duration_ms"] is not None


def test_retry_after_is_honoured_and_attempts_are_bounded(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    target.script(
        "down", [Response(429, headers={"Retry-After": "2"}), Response(500), Response(500)]
    )
    start_worker()
    schedule = create_schedule(
        database_url,
        workflow_id="down",
        cron_expression="* * * * * *",
        remaining_runs=1,
        retry_backoff_seconds=0.5,
        max_attempts=3,
    )
    run = _final(database_url, schedule.id)
    assert run["status"] == "failed" and run["attempts"] == 3 and run["http_status"] == 500
    got = target.requests("down")
    assert len(got) == 3
    assert got[1].at - got[0].at >= 1.9, "Retry-After: 2 waits at least 2 s"
