"""What an update of runs adds to the deployment-wide metrics (/metrics: ends, lifetime
durations, fire lag, result waits). A finish of runs that were all running counts them from its
new rows alone, on a plan kept for the session (migration 0021); any other update joins each
run's old and new state. Both count each end, lag and wait once, whatever else the statement
touched."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from db.repositories import stats as stats_repo
from db.types import Conn

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SCHEDULE = UUID("00000000-0000-4000-8000-000000000001")
# The metrics kept for the deployment only (a schedule's and a tenant's are read elsewhere).
DEPLOYMENT_WIDE = ("finished", "duration_total", "lag_", "result_")

# Runs of one schedule, one per second from T0: `running` ones started 50 ms after their fire
# instant, one `accepted` (its workflow reports later), one `pending` (never started).
RUNS = """
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, fire_at, status, attempts, created_at,
    started_at, executed_at, accepted_at, completion_deadline)
SELECT %(schedule)s, 'wf', 'acme', slot, slot, status, 1, slot,
       CASE WHEN status <> 'pending' THEN slot + interval '50 ms' END,
       CASE WHEN status <> 'pending' THEN slot + interval '50 ms' END,
       CASE WHEN status = 'accepted' THEN slot + interval '1 s' END,
       CASE WHEN status = 'accepted' THEN slot + interval '1 hour' END
FROM unnest(%(statuses)s::text[]) WITH ORDINALITY AS r(status, n),
     LATERAL (SELECT %(t0)s::timestamptz + make_interval(secs => n) AS slot) AS s
RETURNING id
"""


async def _runs(conn: Conn, statuses: list[str]) -> list[UUID]:
    cursor = await conn.execute(RUNS, {"schedule": SCHEDULE, "statuses": statuses, "t0": T0})
    return [row["id"] for row in await cursor.fetchall()]


async def _added(conn: Conn, before: stats_repo.Metrics) -> dict[tuple[str, str], int]:
    now = await stats_repo.global_metrics(conn)
    changed = {k: now.get(k, 0) - before.get(k, 0) for k in set(now) | set(before)}
    return {k: v for k, v in changed.items() if v and k[0].startswith(DEPLOYMENT_WIDE)}


async def _bucket(conn: Conn, ms: float) -> str:
    cursor = await conn.execute("SELECT wfs_bucket(%s) AS b", (ms,))
    row = await cursor.fetchone()
    assert row is not None
    return str(row["b"])


async def test_a_finish_of_running_runs_counts_each_end_once(conn: Conn) -> None:
    ok, failed, retried, accepted = await _runs(conn, ["running"] * 4)
    before = await stats_repo.global_metrics(conn)
    await conn.execute(
        """UPDATE workflow_schedule_executions SET
               status = CASE id WHEN %(ok)s THEN 'succeeded' WHEN %(failed)s THEN 'failed'
                                WHEN %(retried)s THEN 'retrying' ELSE 'accepted' END,
               duration_ms = CASE id WHEN %(ok)s THEN 40 WHEN %(failed)s THEN 900 END,
               finished_at = CASE WHEN id IN (%(ok)s, %(failed)s) THEN now() END,
               accepted_at = CASE WHEN id = %(accepted)s THEN now() END
           WHERE id IN (%(ok)s, %(failed)s, %(retried)s, %(accepted)s)""",
        {"ok": ok, "failed": failed, "retried": retried, "accepted": accepted},
    )
    assert await _added(conn, before) == {
        ("finished", "succeeded"): 1,
        ("finished", "failed"): 1,
        ("duration_total_count", ""): 2,
        ("duration_total_sum_ms", ""): 940,
        ("duration_total_bucket", await _bucket(conn, 40)): 1,
        ("duration_total_bucket", await _bucket(conn, 900)): 1,
    }


UPDATE_BESIDE_A_FINISH = """
UPDATE workflow_schedule_executions SET
    status = CASE id WHEN %(running)s THEN 'failed' WHEN %(accepted)s THEN 'succeeded'
                     WHEN %(pending)s THEN 'running' END,
    duration_ms = CASE id WHEN %(running)s THEN 70 WHEN %(accepted)s THEN 2000 END,
    finished_at = CASE id WHEN %(accepted)s THEN accepted_at + interval '2 s'
                          WHEN %(running)s THEN now() END,
    executed_at = CASE id WHEN %(pending)s THEN fire_at + interval '300 ms'
                          ELSE executed_at END
WHERE id IN (%(running)s, %(accepted)s, %(pending)s)
"""


async def test_a_result_that_arrives_beside_a_finish_is_a_wait_and_an_end(conn: Conn) -> None:
    """An accepted run whose workflow reports 2 s after its acceptance, in one statement with
    a finish: the join's path."""
    running, accepted = await _runs(conn, ["running", "accepted"])
    before = await stats_repo.global_metrics(conn)
    ids = {"running": running, "accepted": accepted, "pending": None}
    await conn.execute(UPDATE_BESIDE_A_FINISH, ids)
    assert await _added(conn, before) == {
        ("finished", "failed"): 1,
        ("finished", "succeeded"): 1,
        ("duration_total_count", ""): 2,
        ("duration_total_sum_ms", ""): 2070,
        ("duration_total_bucket", await _bucket(conn, 70)): 1,
        ("duration_total_bucket", await _bucket(conn, 2000)): 1,
        ("result_count", ""): 1,
        ("result_sum_ms", ""): 2000,
        ("result_bucket", await _bucket(conn, 2000)): 1,
    }


async def test_a_start_beside_a_finish_is_a_lag_sample(conn: Conn) -> None:
    """A pending run that starts 300 ms after its fire instant, in one statement with a
    finish: the join's path."""
    running, pending = await _runs(conn, ["running", "pending"])
    before = await stats_repo.global_metrics(conn)
    ids = {"running": running, "accepted": None, "pending": pending}
    await conn.execute(UPDATE_BESIDE_A_FINISH, ids)
    assert await _added(conn, before) == {
        ("finished", "failed"): 1,
        ("duration_total_count", ""): 1,
        ("duration_total_sum_ms", ""): 70,
        ("duration_total_bucket", await _bucket(conn, 70)): 1,
        ("lag_count", ""): 1,
        ("lag_sum_ms", ""): 300,
        ("lag_bucket", await _bucket(conn, 300)): 1,
    }


async def test_a_finished_run_touched_beside_a_finish_is_not_counted_again(conn: Conn) -> None:
    done, running = await _runs(conn, ["running", "running"])
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'succeeded', duration_ms = 10,"
        " finished_at = now() WHERE id = %s",
        (done,),
    )
    before = await stats_repo.global_metrics(conn)
    await conn.execute(
        """UPDATE workflow_schedule_executions SET
               status = 'succeeded', workflow_run_id = 'touched',
               duration_ms = CASE id WHEN %(running)s THEN 20 ELSE duration_ms END,
               finished_at = coalesce(finished_at, now())
           WHERE id IN (%(done)s, %(running)s)""",
        {"done": done, "running": running},
    )
    assert await _added(conn, before) == {
        ("finished", "succeeded"): 1,
        ("duration_total_count", ""): 1,
        ("duration_total_sum_ms", ""): 20,
        ("duration_total_bucket", await _bucket(conn, 20)): 1,
    }
