"""Workflow outcomes on a frozen clock (issue 11): reports, heartbeats and timeouts of accepted
runs, decided by the services on the real database with `now` injected."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.callbacks import Report
from app.domain.outcome import Outcome
from app.errors import Conflict, ExecutionNotFound
from app.services.attempts import Answer, Attempt, finish_batch, start_batch
from app.services.dispatch import dispatch_once
from app.services.outcomes import OutcomeService, time_out_due
from app.services.schedules import ScheduleService
from app.services.stats import StatsService
from db.repositories import stats as stats_repo
from db.repositories.stats import fold
from db.types import Conn

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
ACCEPTED = Outcome("accepted", 202, None, "wf-run-1", None, 4)
OK = Outcome("succeeded", 200, None, None, None, 4)
DONE = Report("succeeded", output={"rows": 3})


async def _accepted_run(
    conn: Conn, answered_at: datetime = T0, **fields: Any
) -> tuple[Attempt, UUID]:
    """A schedule whose first run was answered 202 at `answered_at`."""
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *", **fields}
    )
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=2))
    ids = await _run_ids(conn, schedule.id)
    [attempt] = await start_batch(conn, ids[:1], now=T0)
    await finish_batch(conn, [Answer(attempt, ACCEPTED, answered_at)])
    return attempt, schedule.id


async def _run_ids(conn: Conn, schedule_id: UUID) -> list[UUID]:
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = %s ORDER BY scheduled_at",
        (schedule_id,),
    )
    return [r["id"] for r in await cursor.fetchall()]


async def _row(conn: Conn, execution_id: UUID) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT status, attempts, error, output, duration_ms, accepted_at, finished_at, "
        "completion_deadline, next_attempt_at, http_status, workflow_run_id "
        "FROM workflow_schedule_executions WHERE id = %s",
        (execution_id,),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


def _service(conn: Conn, tenant: str = "acme") -> OutcomeService:
    return OutcomeService(conn, tenant, rng=random.Random(1))


async def test_a_202_makes_the_run_accepted_with_a_deadline(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn, completion_timeout_seconds=600)
    row = await _row(conn, attempt.execution_id)
    assert row["status"] == "accepted"
    assert row["accepted_at"] == T0
    assert row["completion_deadline"] == T0 + timedelta(seconds=600)
    assert row["finished_at"] is None and row["duration_ms"] is None
    assert (row["http_status"], row["workflow_run_id"]) == (202, "wf-run-1")


async def test_a_report_ends_the_run_with_the_workflows_duration_and_output(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn)
    at = T0 + timedelta(minutes=7)
    reported = await _service(conn).report(attempt.execution_id, DONE, now=at)
    assert not reported.early
    row = await _row(conn, attempt.execution_id)
    assert row["status"] == "succeeded"
    assert row["output"] == {"rows": 3}
    assert row["finished_at"] == at
    # From the first attempt's start (the slot) to the report: the workflow's duration.
    assert row["duration_ms"] == pytest.approx(7 * 60_000, abs=5)
    assert row["completion_deadline"] is None


async def test_the_same_report_again_is_idempotent_and_a_different_one_conflicts(
    conn: Conn,
) -> None:
    attempt, _ = await _accepted_run(conn)
    service = _service(conn)
    await service.report(attempt.execution_id, DONE, now=T0 + timedelta(seconds=5))
    again = await service.report(attempt.execution_id, DONE, now=T0 + timedelta(seconds=9))
    assert again.execution.status == "succeeded"
    with pytest.raises(Conflict, match="succeeded"):
        await service.report(
            attempt.execution_id, Report("failed", error="boom"), now=T0 + timedelta(seconds=9)
        )
    assert (await _row(conn, attempt.execution_id))["finished_at"] == T0 + timedelta(seconds=5)


async def test_a_retryable_failure_is_retried_like_a_5xx(conn: Conn) -> None:
    attempt, schedule_id = await _accepted_run(conn, max_attempts=3, retry_backoff_seconds=10)
    at = T0 + timedelta(seconds=30)
    await _service(conn).report(
        attempt.execution_id, Report("failed", error="flaky", retryable=True), now=at
    )
    row = await _row(conn, attempt.execution_id)
    assert row["status"] == "retrying" and row["error"] == "flaky"
    # Backoff 10 s ± 20 %, counted from the report.
    delay = (row["next_attempt_at"] - at).total_seconds()
    assert 8 <= delay <= 12
    job = await (
        await conn.execute(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'todo' "
            "AND args->'execution_ids' ? %s AND scheduled_at >= %s",
            (str(attempt.execution_id), row["next_attempt_at"]),
        )
    ).fetchone()
    assert job == {"n": 1}, "the retry has its job, deferred in the report's transaction"
    # The next attempt is a new delivery of the same run; this time the target answers 200.
    [second] = await start_batch(conn, [attempt.execution_id], now=at + timedelta(seconds=11))
    assert second.attempt == 2
    await finish_batch(conn, [Answer(second, OK, at + timedelta(seconds=12))])
    assert (await _row(conn, attempt.execution_id))["status"] == "succeeded"
    schedule = await ScheduleService(conn, "acme").get(schedule_id)
    assert schedule.consecutive_failures == 0


async def test_a_retryable_failure_of_the_last_attempt_fails(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn, max_attempts=1)
    await _service(conn).report(
        attempt.execution_id,
        Report("failed", error="still broken", retryable=True),
        now=T0 + timedelta(seconds=3),
    )
    row = await _row(conn, attempt.execution_id)
    assert (row["status"], row["error"]) == ("failed", "still broken")


async def test_no_report_by_the_deadline_times_out_and_a_late_report_is_refused(
    conn: Conn,
) -> None:
    attempt, _ = await _accepted_run(conn, completion_timeout_seconds=60)
    assert await time_out_due(conn, now=T0 + timedelta(seconds=59)) == 0
    assert await time_out_due(conn, now=T0 + timedelta(seconds=60)) == 1
    row = await _row(conn, attempt.execution_id)
    assert row["status"] == "timed_out"
    assert row["finished_at"] == T0 + timedelta(seconds=60)
    assert "completionTimeoutSeconds" in row["error"]
    with pytest.raises(Conflict, match="timed_out"):
        await _service(conn).report(attempt.execution_id, DONE, now=T0 + timedelta(seconds=61))


async def test_a_report_at_the_deadline_times_the_run_out_itself(conn: Conn) -> None:
    """The deadline decides, not when the sweep last ran: a report that comes at or after the
    deadline finds the run timed out, even before any sweep."""
    attempt, _ = await _accepted_run(conn, completion_timeout_seconds=60)
    with pytest.raises(Conflict, match="timed_out"):
        await _service(conn).report(attempt.execution_id, DONE, now=T0 + timedelta(seconds=60))
    assert (await _row(conn, attempt.execution_id))["status"] == "timed_out"


async def test_heartbeats_move_the_deadline(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn, completion_timeout_seconds=4)
    service = _service(conn)
    for second in (2, 4 - 0.001 + 2, 7):  # each before the deadline the previous one set
        await service.heartbeat(attempt.execution_id, now=T0 + timedelta(seconds=second))
    assert await time_out_due(conn, now=T0 + timedelta(seconds=10)) == 0
    await service.report(attempt.execution_id, DONE, now=T0 + timedelta(seconds=10))
    row = await _row(conn, attempt.execution_id)
    assert row["status"] == "succeeded"
    assert row["duration_ms"] == pytest.approx(10_000, abs=5)


async def test_a_heartbeat_after_the_deadline_is_refused(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn, completion_timeout_seconds=4)
    with pytest.raises(Conflict, match="timed_out"):
        await _service(conn).heartbeat(attempt.execution_id, now=T0 + timedelta(seconds=5))


@pytest.mark.parametrize("offset_ms", [-1, 0])
async def test_a_report_racing_the_timeout_ends_in_exactly_one_state(
    database_url: str, conn: Conn, offset_ms: int
) -> None:
    """A report and the sweep, on two connections at the same moment, ten times over: the
    run ends once, and the loser changes nothing. A report at the deadline always loses; one
    a millisecond before it wins unless the sweep locked the run first (on real clocks the
    sweep could then not have been at the deadline yet: injected times allow the order)."""
    outcomes: set[str] = set()
    for _ in range(10):
        attempt, _ = await _accepted_run(conn, completion_timeout_seconds=60)
        deadline = T0 + timedelta(seconds=60)
        at = deadline + timedelta(milliseconds=offset_ms)
        async with (
            await psycopg.AsyncConnection.connect(
                database_url, autocommit=True, row_factory=dict_row
            ) as a,
            await psycopg.AsyncConnection.connect(
                database_url, autocommit=True, row_factory=dict_row
            ) as b,
        ):

            async def report(execution_id: UUID, at: datetime) -> str:
                try:
                    reported = await _service(a).report(execution_id, DONE, now=at)
                except Conflict as exc:
                    return f"refused: {exc}"
                return reported.execution.status

            sweep_at = max(at, deadline)
            reported, swept = await asyncio.gather(
                report(attempt.execution_id, at), time_out_due(b, now=sweep_at)
            )
        row = await _row(conn, attempt.execution_id)
        if row["status"] == "succeeded":
            assert offset_ms < 0
            assert reported == "succeeded" and swept == 0
        else:
            assert row["status"] == "timed_out"
            assert reported.startswith("refused") and "timed_out" in reported
            assert row["finished_at"] == deadline and row["output"] is None
        outcomes.add(row["status"])
    if offset_ms == 0:
        assert outcomes == {"timed_out"}


async def test_an_early_report_is_applied_when_the_202_is_recorded(conn: Conn) -> None:
    """A workflow faster than the recording of its 202 reports while its run is `running`."""
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *"}
    )
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=2))
    [run_id] = (await _run_ids(conn, schedule.id))[:1]
    [attempt] = await start_batch(conn, [run_id], now=T0)
    early = await _service(conn).report(run_id, DONE, now=T0 + timedelta(milliseconds=40))
    assert early.early and early.execution.status == "running"
    await finish_batch(conn, [Answer(attempt, ACCEPTED, T0 + timedelta(milliseconds=50))])
    row = await _row(conn, run_id)
    assert row["status"] == "succeeded" and row["output"] == {"rows": 3}
    # The same report again is answered like the first time it was recorded.
    again = await _service(conn).report(run_id, DONE)
    assert again.execution.status == "succeeded"


async def test_a_report_for_a_run_not_accepted_conflicts(conn: Conn) -> None:
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {"workflow_id": "wf", "cron_expression": "* * * * *"}
    )
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=2))
    [run_id] = (await _run_ids(conn, schedule.id))[:1]
    [attempt] = await start_batch(conn, [run_id], now=T0)
    await finish_batch(conn, [Answer(attempt, OK, T0)])
    with pytest.raises(Conflict, match="succeeded, not accepted"):
        await _service(conn).report(run_id, DONE)
    with pytest.raises(Conflict, match="succeeded, not accepted"):
        await _service(conn).heartbeat(run_id)


async def test_another_tenants_run_is_not_found(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn)
    with pytest.raises(ExecutionNotFound):
        await _service(conn, "globex").report(attempt.execution_id, DONE)
    with pytest.raises(ExecutionNotFound):
        await _service(conn, "globex").heartbeat(attempt.execution_id)
    assert (await _row(conn, attempt.execution_id))["status"] == "accepted"


async def test_timed_out_counts_as_a_failure_in_statistics_and_streaks(conn: Conn) -> None:
    attempt, schedule_id = await _accepted_run(
        conn, completion_timeout_seconds=60, pause_after_failures=1
    )
    await time_out_due(conn, now=T0 + timedelta(minutes=2))
    await fold(conn)
    schedule = await ScheduleService(conn, "acme").get(schedule_id)
    assert schedule.consecutive_failures == 1
    assert schedule.state == "paused" and "1 consecutive failed runs" in (schedule.pause_note or "")
    stats = await StatsService(conn, "acme").of_schedule(schedule)
    assert stats.counts["timed_out"] == 1
    assert stats.success_rate == 0.0
    view = await (
        await conn.execute(
            "SELECT timed_out, success_rate, unfinished FROM schedule_stats WHERE trigger_id = %s",
            (schedule_id,),
        )
    ).fetchone()
    assert view is not None and view["timed_out"] == 1 and view["success_rate"] == 0
    del attempt


async def test_the_time_to_result_is_sampled_for_metrics(conn: Conn) -> None:
    attempt, _ = await _accepted_run(conn)
    await _service(conn).report(attempt.execution_id, DONE, now=T0 + timedelta(seconds=30))
    metrics = await stats_repo.global_metrics(conn)
    got = {m: metrics.get((m, ""), 0) for m in ("result_count", "result_sum_ms")}
    assert got == {"result_count": 1, "result_sum_ms": 30_000}


async def test_buffer_one_starts_the_buffered_slot_when_the_report_arrives(conn: Conn) -> None:
    attempt, schedule_id = await _accepted_run(conn, overlap_policy="buffer_one")
    # The next slot comes while the workflow still runs: it waits, buffered.
    await dispatch_once(conn, now=T0 + timedelta(minutes=1, milliseconds=2))
    cursor = await conn.execute(
        "SELECT buffered, status FROM workflow_schedule_executions "
        "WHERE trigger_id = %s ORDER BY scheduled_at",
        (schedule_id,),
    )
    assert [tuple(r.values()) for r in await cursor.fetchall()] == [
        (False, "accepted"),
        (True, "pending"),
    ]
    await _service(conn).report(
        attempt.execution_id, DONE, now=T0 + timedelta(minutes=1, seconds=5)
    )
    cursor = await conn.execute(
        "SELECT buffered, status, job_id IS NOT NULL AS has_job FROM workflow_schedule_executions "
        "WHERE trigger_id = %s ORDER BY scheduled_at",
        (schedule_id,),
    )
    assert [tuple(r.values()) for r in await cursor.fetchall()] == [
        (False, "succeeded", True),
        (False, "pending", True),
    ]


async def test_a_buffered_run_whose_policy_changed_is_released_by_the_recovery_sweep(
    conn: Conn,
) -> None:
    """A run's end releases buffered runs only of schedules that are buffer_one when it is
    recorded (the release is not run, nor planned, after every end). A run buffered before its
    schedule's policy changed waits for the recovery sweep, which releases it."""
    from app.services.attempts import recover_orphans

    attempt, schedule_id = await _accepted_run(conn, overlap_policy="buffer_one")
    await dispatch_once(conn, now=T0 + timedelta(minutes=1, milliseconds=2))
    await ScheduleService(conn, "acme", clock=lambda: T0 + timedelta(minutes=1, seconds=1)).update(
        schedule_id, {"overlap_policy": "skip"}
    )
    await _service(conn).report(
        attempt.execution_id, DONE, now=T0 + timedelta(minutes=1, seconds=5)
    )
    query = (
        "SELECT buffered, status FROM workflow_schedule_executions "
        "WHERE trigger_id = %s ORDER BY scheduled_at"
    )
    cursor = await conn.execute(query, (schedule_id,))
    assert [tuple(r.values()) for r in await cursor.fetchall()] == [
        (False, "succeeded"),
        (True, "pending"),
    ]
    assert await recover_orphans(conn, min_age_seconds=3600) == 1
    cursor = await conn.execute(query, (schedule_id,))
    assert [tuple(r.values()) for r in await cursor.fetchall()] == [
        (False, "succeeded"),
        (False, "pending"),
    ]


async def test_skip_treats_an_accepted_run_as_unfinished(conn: Conn) -> None:
    _, schedule_id = await _accepted_run(conn, overlap_policy="skip")
    await dispatch_once(conn, now=T0 + timedelta(minutes=1, milliseconds=2))
    cursor = await conn.execute(
        "SELECT status FROM workflow_schedule_executions WHERE trigger_id = %s "
        "ORDER BY scheduled_at",
        (schedule_id,),
    )
    assert [r["status"] for r in await cursor.fetchall()] == ["accepted", "skipped"]


async def test_recovery_leaves_accepted_runs_alone(conn: Conn) -> None:
    """An accepted run's job is done; its workflow reports or it times out. The orphan sweep
    must not send it again."""
    from app.services.attempts import recover_orphans

    attempt, _ = await _accepted_run(conn)
    await conn.execute("DELETE FROM procrastinate_jobs")
    await conn.execute(
        "UPDATE workflow_schedule_executions SET created_at = now() - '1 h'::interval"
    )
    assert await recover_orphans(conn, min_age_seconds=0) == 0
    assert (await _row(conn, attempt.execution_id))["status"] == "accepted"
