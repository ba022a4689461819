"""The firing engine end to end: a real worker process fires a real schedule to a real target."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.domain.webhook import verify_signature
from tests.support.db import create_schedule, executions, one_row, wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import TEST_SECRET, WorkerProcess


def test_every_second_schedule_fires_each_slot_once(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    schedule = create_schedule(database_url, workflow_id="tick", cron_expression="* * * * * *")
    got = target.wait_for(lambda r: len(r) >= 5, timeout=20)
    slots = [datetime.fromisoformat(r.json()["scheduledAt"]) for r in got[:5]]
    assert all(s.microsecond == 0 for s in slots)
    seconds = [int(s.timestamp()) for s in slots]
    assert seconds == list(range(seconds[0], seconds[0] + 5)), "consecutive whole seconds"
    keys = [r.headers["idempotency-key"] for r in got]
    assert len(keys) == len(set(keys))
    for request in got:
        assert verify_signature(
            TEST_SECRET, request.headers, request.body, now=int(request.at), tolerance_seconds=30
        )
        assert request.headers["authorization"] == f"Bearer {TEST_SECRET}"
        assert request.json()["triggerId"] == str(schedule.id)
    rows = wait_until(
        lambda: [e for e in executions(database_url, schedule.id) if e["status"] == "succeeded"],
        10,
        "succeeded rows",
    )
    assert rows[0]["attempts"] == 1 and rows[0]["http_status"] == 200
    assert rows[0]["workflow_run_id"]
    # Its first health report took its seat in the fleet, so its dispatcher inserts its runs
    # started (docs/architecture.md): a run is one insert and one update (its outcome), not a
    # second update for its start under the per-tenant lock (the default cap is on).
    assert '"event": "health.fleet_seat_taken"' in worker.log_path.read_text()
    inserted, updated = wait_until(lambda: _history_writes(database_url, 12), 30, "12 runs")
    assert updated <= 1.5 * inserted, (inserted, updated)


def _history_writes(database_url: str, at_least: int) -> tuple[int, int] | None:
    """The history's rows inserted and updated so far (PostgreSQL's statistics, which lag
    their transactions by a second or so), once `at_least` were inserted."""
    inserted, updated = one_row(
        database_url,
        "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0) "
        "FROM pg_stat_user_tables WHERE relname LIKE 'workflow_schedule_executions%'",
    )
    return (int(inserted), int(updated)) if inserted >= at_least else None
