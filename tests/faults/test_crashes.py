"""Crashes (issue 6, item 1): kill -9 one of three workers every few seconds under load.

200 schedules (every second and every 2-5 s; overlap `skip` and `allow_all`), a slow target
(0.5-1.5 s per request, by workflow), some workflows that always refuse (422 → `failed`) and
some that answer 503 every other time (retried). While the run goes on, one of the three workers
is killed with SIGKILL every 2-4 s and a replacement started, so three keep running. Then the
kills stop, recovery gets its heartbeat timeout, and every due slot of the window is audited
(tests/faults/audit.py): one row each, a final status its policies allow, delivered as often
as it should be; the extra deliveries are counted and bounded by the runs in flight at the kills.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from app.domain.schedule import Schedule
from tests.faults.audit import (
    RETRYABLE,
    audit_window,
    create_schedules,
    unfinished_before,
)
from tests.faults.conftest import Workers, scaled
from tests.support.db import wait_until
from tests.support.target import Received, RecordingTarget, Response

SCHEDULES = 200
WINDOW_SECONDS = scaled(30, 300)
CADENCES = [
    "* * * * * *",
    "* * * * * *",
    "*/2 * * * * *",
    "*/2 * * * * *",
    "*/3 * * * * *",
    "*/4 * * * * *",
    "*/5 * * * * *",
    "*/5 * * * * *",
]
ZONES = ["UTC", "Europe/Berlin", "Asia/Kathmandu"]


def _profile(n: int) -> str:
    """How the target answers workflow n: ok (200), fail (422 always), flaky (503/200...)."""
    return {9: "fail", 7: "flaky"}.get(n % 10, "ok")


def _fleet(target: RecordingTarget) -> list[dict[str, Any]]:
    specs = []
    answers = 2 * WINDOW_SECONDS + 200  # more scripted answers than requests can use
    for n in range(SCHEDULES):
        workflow = f"crash-{n}"
        target.set_delay(workflow, 0.5 + (n % 11) / 10)  # 0.5 .. 1.5 s
        profile = _profile(n)
        if profile == "fail":
            target.script(workflow, [Response(422, body=b"no such workflow")] * answers)
        elif profile == "flaky":
            target.script(workflow, [Response(503), Response(200)] * answers)
        specs.append(
            {
                "workflow_id": workflow,
                "cron_expression": CADENCES[n % len(CADENCES)],
                "timezone": ZONES[n % len(ZONES)],
                "overlap_policy": "skip" if n % 2 == 0 else "allow_all",
                "max_attempts": 4 if profile == "flaky" else 3,
                "retry_backoff_seconds": 1,
            }
        )
    return specs


def _expect(schedule: Schedule, row: dict[str, Any], got: list[Received]) -> str | None:
    """The scenario's rule for a finished run, by how its target answers."""
    profile = _profile(int(schedule.workflow_id.split("-")[1]))
    status = row["status"]
    if status in ("skipped", "missed"):
        return None  # checked against the policies by the audit
    if profile == "ok" and status != "succeeded":
        return f"{status} although the target always answers 200"
    if profile == "fail" and (status != "failed" or row["http_status"] != 422):
        return f"{status}/{row['http_status']} although the target always answers 422"
    if profile == "flaky":
        if status == "failed" and not (
            row["attempts"] >= schedule.max_attempts and row["http_status"] in RETRYABLE
        ):
            return f"failed after {row['attempts']} attempts ({row['http_status']})"
        if status == "succeeded" and not any(r.status == 200 for r in got):
            return "succeeded but the target never answered 200"
    return None


def _snapshot_after_kill(database_url: str) -> dict[str, Any]:
    """The runs in flight the moment after a kill, with the worker identity holding each."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.id, j.worker_id FROM workflow_schedule_executions e "
            "LEFT JOIN procrastinate_jobs j ON j.id = e.job_id WHERE e.status = 'running'"
        ).fetchall()
        db_now = conn.execute("SELECT clock_timestamp()").fetchone()
    assert db_now is not None
    return {
        "at": time.time(),
        "db_at": db_now[0],
        "running": len(rows),
        "held": [(execution_id, worker_id) for execution_id, worker_id in rows],
    }


def _count_victims_runs(database_url: str, kill: dict[str, Any]) -> None:
    """Seconds after a kill: the runs it held are those whose worker identity has not
    heartbeaten since (identities heartbeat every second; a job without one is at risk too).
    These are the runs the kill may cause to be delivered twice."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        alive = {
            worker_id
            for (worker_id,) in conn.execute(
                "SELECT id FROM procrastinate_workers WHERE last_heartbeat > %s",
                (kill["db_at"],),
            ).fetchall()
        }
    kill["victims_runs"] = {e for e, w in kill["held"] if w is None or w not in alive}


def _in_flight_at(requests: list[Received], target: RecordingTarget, at: float) -> int:
    """Requests the target had received but not answered yet at `at`."""
    delays = target._delays  # noqa: SLF001 - the test's own configuration
    return sum(1 for r in requests if r.at <= at < r.at + delays.get(r.workflow_id or "", 0))


def _redelivery_gaps(requests: list[Received]) -> dict[str, float]:
    """How long after a delivery the target had answered finally the same key came again."""
    by_key: dict[str, list[Received]] = {}
    for r in requests:
        by_key.setdefault(r.headers["idempotency-key"], []).append(r)
    gaps = [
        later.at - earlier.at
        for got in by_key.values()
        for earlier, later in zip(got, got[1:], strict=False)
        if earlier.status not in RETRYABLE
    ]
    if not gaps:
        return {}
    return {"p50": round(statistics.median(gaps), 1), "max": round(max(gaps), 1)}


@pytest.mark.timeout(scaled(170, WINDOW_SECONDS + 240))
def test_kill_9_storm_loses_nothing_and_duplicates_no_slot(
    database_url: str, target: RecordingTarget, workers: Workers, figures: Any
) -> None:
    rng = random.Random(6)
    schedules = create_schedules(database_url, _fleet(target))
    for _ in range(3):
        workers.start(wait=False)
    for worker in workers.started:
        worker.wait_registered()
    time.sleep(1)
    window_start = datetime.now(UTC)
    stop_at = time.monotonic() + WINDOW_SECONDS
    kills: list[dict[str, Any]] = []
    while True:
        time.sleep(rng.uniform(2.0, 4.0))
        if kills:
            _count_victims_runs(database_url, kills[-1])
        if time.monotonic() >= stop_at:
            break
        victim = rng.choice(workers.alive)
        victim.kill()
        kills.append(_snapshot_after_kill(database_url))
        workers.start(wait=False)
        assert len(workers.alive) == 3
    window_end = datetime.now(UTC)
    last_kill = kills[-1]["at"]

    wait_until(
        lambda: unfinished_before(database_url, window_end) == 0,
        scaled(90, 180),
        "every run of the window to reach a final status",
    )
    settled_at = time.time()
    time.sleep(2)  # answers still on their way to the target are recorded
    requests = target.requests()
    for kill in kills:
        kill["in_flight_at_target"] = _in_flight_at(requests, target, kill["at"])
    audit = audit_window(database_url, schedules, window_start, window_end, requests, _expect)
    # Each kill can cost each run the killed worker held one extra delivery; a run recovered
    # by a worker that is killed in turn can be delivered again, so count per kill.
    bound = sum(len(k["victims_runs"]) for k in kills)
    figures(
        scenario="kill -9 storm",
        schedules=SCHEDULES,
        workers=3,
        window_seconds=round((window_end - window_start).total_seconds(), 1),
        kills=len(kills),
        workers_started=len(workers.started),
        running_at_kills=[k["running"] for k in kills],
        running_in_killed_worker_at_kills=[len(k["victims_runs"]) for k in kills],
        in_flight_at_target_at_kills=[k["in_flight_at_target"] for k in kills],
        duplicate_delivery_bound=bound,
        settled_seconds_after_last_kill=round(settled_at - last_kill, 1),
        redelivered_after_seconds=_redelivery_gaps(requests),
        **audit.summary(),
    )
    audit.assert_clean()
    assert audit.expected_slots > SCHEDULES * WINDOW_SECONDS / 4
    assert audit.redundant_deliveries <= bound, (audit.redundant_deliveries, bound)
    assert Counter(w.alive for w in workers.started)[True] == 3
    for worker in workers.alive:
        assert "Traceback" not in worker.log(), worker.log()
