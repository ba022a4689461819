"""Shutdown (issue 6, item 3): SIGTERM with requests in flight on a worker that holds several
batches; a target slower than SCHEDULER_SHUTDOWN_TIMEOUT; a second SIGTERM.

One batch job holds the runs one dispatcher pass fired; with schedules every second and a
target that takes 2 s, a worker holds two or three batches at any moment. The test counts the
requests in flight (received by the target, not answered yet) and the batches (distinct jobs of
the runs `running` in the database) at the signal, then checks what became of each of them.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from app.domain.webhook import idempotency_key
from tests.faults.audit import audit_window, create_schedules, for_slots_in, unfinished_before
from tests.faults.conftest import Workers, scaled
from tests.support.db import one_row, wait_until
from tests.support.target import Received, RecordingTarget

SHUTDOWN_TIMEOUT = 5.0
EXIT_MARGIN = 2.0  # process teardown after the budget: pools closed, interpreter exit


def _fleet(database_url: str, target: RecordingTarget, count: int, delay: float) -> list[Any]:
    for n in range(count):
        target.set_delay(f"term-{n}", delay)
    return create_schedules(
        database_url,
        [
            {
                "workflow_id": f"term-{n}",
                "cron_expression": "* * * * * *",
                "overlap_policy": "allow_all",
            }
            for n in range(count)
        ],
    )


def _in_flight(requests: list[Received], at: float, delay: float) -> list[Received]:
    """Requests received before `at` whose answer (after `delay`) had not been sent yet."""
    return [r for r in requests if r.at <= at < r.at + delay]


def _held_batches(database_url: str) -> tuple[int, int]:
    """(runs `running`, distinct batch jobs holding them), as the database sees it now."""
    running, jobs = one_row(
        database_url,
        "SELECT count(*), count(DISTINCT job_id) FROM workflow_schedule_executions "
        "WHERE status = 'running'",
    )
    return int(running), int(jobs)


def _rows_by_key(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, trigger_id, scheduled_at, status, attempts "
            "FROM workflow_schedule_executions"
        ).fetchall()
    return {
        idempotency_key(t, at): {"id": str(i), "status": s, "attempts": a}
        for i, t, at, s, a in rows
    }


def _signal_and_time(worker: Any, signals: int = 1) -> tuple[int | None, float]:
    sent = time.monotonic()
    worker.signal(signal.SIGTERM)
    if signals == 2:
        time.sleep(0.3)  # the first one is handled before the second arrives
        sent = time.monotonic()
        worker.signal(signal.SIGTERM)
    try:
        code: int | None = worker.wait(SHUTDOWN_TIMEOUT + 20)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - sent


@pytest.mark.timeout(scaled(90, 300))
def test_sigterm_lets_in_flight_batches_finish_and_exits_0(
    database_url: str, target: RecordingTarget, workers: Workers, figures: Any
) -> None:
    delay = 2.0
    rounds = scaled(1, 5)
    results = []
    schedules = _fleet(database_url, target, scaled(8, 80), delay)
    window_start = datetime.now(UTC)
    for _ in range(rounds):
        worker = workers.start(SCHEDULER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT))
        seen = len(target.requests())
        target.wait_for(  # about three seconds in
            lambda got, seen=seen: len(got) >= seen + 3 * len(schedules), timeout=20
        )
        running, batches = _held_batches(database_url)
        signalled_at = time.time()
        code, took = _signal_and_time(worker)
        in_flight = _in_flight(target.requests(), signalled_at, delay)
        rows = _rows_by_key(database_url)
        outcome = Counter(rows[r.headers["idempotency-key"]]["status"] for r in in_flight)
        delivered = Counter(r.headers["idempotency-key"] for r in target.requests())
        results.append(
            {
                "exit_code": code,
                "exit_seconds": round(took, 2),
                "runs_running_at_signal": running,
                "batches_held_at_signal": batches,
                "requests_in_flight_at_signal": len(in_flight),
                "their_status_after_exit": dict(outcome),
                "of_them_delivered_more_than_once": sum(
                    1 for r in in_flight if delivered[r.headers["idempotency-key"]] > 1
                ),
                "runs_left_running_after_exit": _held_batches(database_url)[0],
            }
        )
    window_end = datetime.fromtimestamp(signalled_at, UTC)
    workers.start(SCHEDULER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT))  # takes over what is left
    wait_until(lambda: unfinished_before(database_url, window_end) == 0, 30, "the rest to run")
    audit = audit_window(database_url, schedules, window_start, window_end, target.requests())
    figures(
        scenario="SIGTERM, target 2 s, timeout 5 s",
        schedules=len(schedules),
        rounds=results,
        **audit.summary(),
    )
    for result in results:
        assert result["exit_code"] == 0, result
        assert result["exit_seconds"] <= SHUTDOWN_TIMEOUT, result
        assert result["batches_held_at_signal"] >= 2, result
        assert result["requests_in_flight_at_signal"] >= len(schedules), result
        assert result["their_status_after_exit"] == {
            "succeeded": result["requests_in_flight_at_signal"]
        }, result
        assert result["of_them_delivered_more_than_once"] == 0, result
        assert result["runs_left_running_after_exit"] == 0, result
    audit.assert_clean()
    assert audit.statuses == {"succeeded": audit.expected_slots}
    assert audit.redundant_deliveries == 0


@pytest.mark.timeout(scaled(90, 300))
@pytest.mark.parametrize("signals", [1, 2], ids=["target-slower-than-timeout", "second-sigterm"])
def test_runs_cut_by_shutdown_are_recovered_with_the_same_key(
    signals: int, database_url: str, target: RecordingTarget, workers: Workers, figures: Any
) -> None:
    """The target takes 20 s. One SIGTERM: the worker waits SCHEDULER_SHUTDOWN_TIMEOUT, then
    exits 0 and leaves the rest. Two SIGTERMs: it stops at once. Either way another worker
    delivers those runs again later, with the same Idempotency-Key and execution id."""
    delay = 20.0
    count = scaled(6, 60)
    schedules = _fleet(database_url, target, count, delay)
    window_start = datetime.now(UTC)
    worker = workers.start(SCHEDULER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT))
    target.wait_for(lambda got: len(got) >= 3 * count, timeout=20)  # 3 s of runs in flight
    running, batches = _held_batches(database_url)
    signalled_at = time.time()
    code, took = _signal_and_time(worker, signals)
    window_end = datetime.fromtimestamp(signalled_at, UTC)
    cut = _in_flight(target.requests(), signalled_at, delay)
    for n in range(len(schedules)):
        target.set_delay(f"term-{n}", 0.1)
    workers.start(SCHEDULER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT))
    recovered_from = time.time()
    wait_until(
        lambda: unfinished_before(database_url, window_end) == 0, 40, "the cut runs to be recovered"
    )
    recovered_in = time.time() - recovered_from
    requests = target.requests()
    rows = _rows_by_key(database_url)
    redelivered = []
    for request in cut:
        key = request.headers["idempotency-key"]
        again = [r for r in requests if r.headers["idempotency-key"] == key]
        redelivered.append(
            {
                "deliveries": len(again),
                "keys": {r.headers["idempotency-key"] for r in again},
                "ids": {r.headers["webhook-id"] for r in again},
                "row": rows[key],
            }
        )
    audit = audit_window(database_url, schedules, window_start, window_end, requests)
    figures(
        scenario=f"{signals} SIGTERM(s), target 20 s, timeout 5 s",
        schedules=len(schedules),
        exit_code=code,
        exit_seconds=round(took, 2),
        runs_running_at_signal=running,
        batches_held_at_signal=batches,
        requests_in_flight_at_signal=len(cut),
        recovered_by_another_worker=sum(
            1 for r in redelivered if r["deliveries"] >= 2 and r["row"]["status"] == "succeeded"
        ),
        all_recovered_within_seconds=round(recovered_in, 1),
        **audit.summary(),
    )
    if signals == 1:
        assert code == 0, worker.log()
        assert SHUTDOWN_TIMEOUT - 0.5 <= took <= SHUTDOWN_TIMEOUT + EXIT_MARGIN, took
    else:
        assert code == -signal.SIGTERM, code  # the default action: ended by the signal
        assert took < 1.0, took
    assert batches >= 2 and len(cut) >= 2 * count, (batches, len(cut))
    for entry in redelivered:
        assert entry["deliveries"] >= 2, entry
        assert len(entry["keys"]) == 1 and entry["ids"] == {entry["row"]["id"]}, entry
        assert entry["row"]["status"] == "succeeded", entry
        assert entry["row"]["attempts"] >= 2, entry
    audit.assert_clean()
    assert audit.statuses == {"succeeded": audit.expected_slots}
    # The runs the shutdown cut, and only they, were delivered twice (of the window's slots:
    # one cut request may be for a slot just outside it, checked above like every cut one).
    cut_in_window = for_slots_in(cut, window_start, window_end)
    assert audit.redundant_deliveries == audit.slots_redelivered == len(cut_in_window)
    assert audit.slots_delivered == audit.expected_slots
