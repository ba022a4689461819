"""Statistics stay exact through inserts, outcomes, folds and retention; they read in O(1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from app.domain.outcome import Outcome
from app.services.attempts import Answer, finish_batch, start_batch
from app.services.dispatch import dispatch_once
from app.services.retention import prune
from app.services.schedules import ScheduleService
from app.services.stats import StatsService
from db.queries import query
from db.repositories.stats import fold
from db.types import Conn
from tests.integration.test_stats_migrations import TRIGGER_WORKLOAD, WITH_OUTCOME_DELTAS

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def outcome(kind: str, status: int | None, duration_ms: int) -> Outcome:
    return Outcome(
        kind,
        status,
        None if kind == "succeeded" else "boom",
        None,
        None,  # type: ignore[arg-type]
        duration_ms,
    )


async def _run_slots(conn: Conn, seconds: int, kinds: list[tuple[str, int | None, int]]) -> Any:
    schedule = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {
            "workflow_id": "wf",
            "cron_expression": "* * * * * *",
            "overlap_policy": "allow_all",
            "max_attempts": 1,
        }
    )
    for second in range(seconds):
        await dispatch_once(conn, now=T0 + timedelta(seconds=second, milliseconds=2))
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = %s ORDER BY scheduled_at",
        (schedule.id,),
    )
    ids = [r["id"] for r in await cursor.fetchall()]
    attempts = await start_batch(conn, ids)
    await finish_batch(
        conn, [Answer(a, outcome(*kinds[i % len(kinds)])) for i, a in enumerate(attempts)]
    )
    return schedule


async def test_stats_count_every_outcome(conn: Conn) -> None:
    schedule = await _run_slots(
        conn,
        10,
        [
            ("succeeded", 200, 100),
            ("succeeded", 200, 100),
            ("succeeded", 200, 100),
            ("failed", 400, 50),
            ("succeeded", 200, 2_000),
        ],
    )
    service = StatsService(conn, "acme")
    before_fold = await service.of_schedule(schedule)
    assert await fold(conn) is not None
    after_fold = await service.of_schedule(schedule)
    assert before_fold == after_fold, "reads are exact whether folded or not"
    assert after_fold.total == 10
    assert after_fold.counts["succeeded"] == 8 and after_fold.counts["failed"] == 2
    assert after_fold.success_rate == 80.0
    assert after_fold.avg_duration_ms == (6 * 100 + 2 * 50 + 2 * 2_000) / 10
    assert after_fold.p95_duration_ms is not None
    assert 2_000 / 1.13 <= after_fold.p95_duration_ms <= 2_000 * 1.13
    overall = await service.overall()
    assert overall.stats.total == 10 and overall.schedules["active"] == 1
    summaries = await service.summaries([schedule.id])
    assert summaries[schedule.id].total == 10 and summaries[schedule.id].success_rate == 80.0
    assert (await StatsService(conn, "globex").overall()).stats.total == 0


async def test_retention_counts_the_age_from_the_now_it_is_given(conn: Conn) -> None:
    await _run_slots(conn, 3, [("succeeded", 200, 10)])
    cursor = await conn.execute(
        "SELECT min(created_at) AS first, max(created_at) AS last FROM workflow_schedule_executions"
    )
    created = await cursor.fetchone()
    assert created is not None
    kept = await prune(conn, retention_days=30, now=created["first"] + timedelta(days=30))
    assert kept.executions == 0, "exactly 30 days old: still within the retention"
    pruned = await prune(
        conn, retention_days=30, now=created["last"] + timedelta(days=30, seconds=1)
    )
    assert pruned.executions == 3


async def test_retention_prunes_and_stats_follow(conn: Conn) -> None:
    schedule = await _run_slots(conn, 6, [("succeeded", 200, 10)])
    await conn.execute(
        "UPDATE workflow_schedule_executions SET created_at = now() - interval '40 days' "
        "WHERE scheduled_at < %s",
        (T0 + timedelta(seconds=4),),
    )
    pruned = await prune(conn, retention_days=30, batch=2)
    assert pruned.executions == 4
    await fold(conn)
    stats = await StatsService(conn, "acme").of_schedule(schedule)
    assert stats.total == 2 and stats.counts["succeeded"] == 2
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'succeeded'"
    )
    assert (await cursor.fetchone())["n"] == 0  # type: ignore[index]


async def test_views_for_psql(conn: Conn) -> None:
    schedule = await _run_slots(conn, 4, [("succeeded", 200, 10), ("failed", 500, 10)])
    cursor = await conn.execute(
        "SELECT * FROM schedule_stats WHERE trigger_id = %s", (schedule.id,)
    )
    row = await cursor.fetchone()
    assert row is not None and row["total"] == 4 and row["success_rate"] == 50
    cursor = await conn.execute("SELECT count(*) AS n FROM recent_executions")
    # recent_executions shows the last day by scheduled_at; these slots are in 2026-05.
    assert (await cursor.fetchone()) is not None


# Each table of per-schedule deltas, and a delta of one succeeded run in it.
DELTA_FILLS = {
    "workflow_schedule_stat_deltas": "INSERT INTO workflow_schedule_stat_deltas"
    " (trigger_id, tenant, metric, key, value)"
    " SELECT gen_random_uuid(), 'acme', 'status', 'succeeded', 1 FROM generate_series(1, %s)",
    "workflow_schedule_outcome_deltas": "INSERT INTO workflow_schedule_outcome_deltas"
    " (trigger_id, tenant, status, runs, duration_bucket, duration_sum_ms)"
    " SELECT gen_random_uuid(), 'acme', 'succeeded', 1, '20', 90 FROM generate_series(1, %s)",
}


@pytest.mark.parametrize("table", DELTA_FILLS)
async def test_the_fold_finds_its_deltas_by_key_however_bloated_their_table_is(
    conn: Conn, table: str
) -> None:
    """stats_fold (db/queries/stats.sql): when vacuum falls behind, the deltas' table holds far
    more dead rows than live ones. A fold planned as a join scanned all of them every second
    (a 1,000/s run: 21-26 s per fold, PostgreSQL's CPU per slot ×4); by the key, it reads
    only what it moves."""
    name = sql.Identifier(table)
    await conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = off)").format(name))
    fill = DELTA_FILLS[table]
    await conn.execute(fill, (200_000,))  # type: ignore[arg-type]
    await conn.execute(sql.SQL("ANALYZE {}").format(name))  # a crowd of deltas, folded
    await conn.execute(sql.SQL("DELETE FROM {}").format(name))  # and not vacuumed since
    await conn.execute(fill, (300,))  # type: ignore[arg-type]
    await conn.execute("SET jit = off")  # as the service's pools run it

    cursor = await conn.execute(sql.SQL("EXPLAIN ") + query("stats_fold"), {"limit": 50_000})
    plan = "\n".join(row["QUERY PLAN"] for row in await cursor.fetchall())
    assert f"Seq Scan on {table}" not in plan, plan
    assert await fold(conn) == 300


async def test_the_fold_keeps_one_cadence_for_the_deployment(conn: Conn, database_url: str) -> None:
    """A fold happens when the deployment's last one, by any worker, is `every` seconds old
    (migration 0015): with a worker per connection asking every second, the deltas are still
    folded every `every` seconds, so each fold sums several slots of a schedule into one value
    row. A fold asked with every=0 goes on at once (a round that left more waiting)."""
    schedule = await _run_slots(conn, 3, [("succeeded", 200, 10)])
    cursor = await conn.execute("SELECT clock_timestamp() + interval '1 hour' AS t")
    row = await cursor.fetchone()
    assert row is not None
    t = row["t"]
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as other:
        assert await fold(conn, every=5, now=t)
        await _run_slots(conn, 2, [("succeeded", 200, 10)])
        assert await fold(other, every=5, now=t + timedelta(seconds=4)) is None
        assert await fold(conn, every=5, now=t + timedelta(seconds=4.9)) is None
        assert await fold(other, every=5, now=t + timedelta(seconds=5))
        assert await fold(conn, every=5, now=t + timedelta(seconds=6)) is None
        assert await fold(conn, now=t + timedelta(seconds=6)) == 0
    stats = await StatsService(conn, "acme").of_schedule(schedule)
    assert stats.counts["succeeded"] == 3


async def test_a_last_fold_in_the_future_does_not_stop_the_folds(conn: Conn) -> None:
    """The database clock stepped back (or a fold was asked with a later `now`): the next fold
    is not put off until that instant."""
    cursor = await conn.execute("SELECT clock_timestamp() AS t")
    row = await cursor.fetchone()
    assert row is not None
    t = row["t"]
    assert await fold(conn, every=5, now=t + timedelta(hours=1)) is not None
    assert await fold(conn, every=5, now=t) is not None
    assert await fold(conn, every=5, now=t + timedelta(seconds=1)) is None


async def test_a_fold_changes_no_sum_the_readers_see(conn: Conn) -> None:
    """stats_fold adds a schedule's outcome deltas up per status and bucket before expanding
    them: every scope's sums must read the same after the fold, keys whose deltas cancel out
    (a run finished, then pruned, before the fold) included."""
    for statement in TRIGGER_WORKLOAD:  # 600 runs of 7 schedules, every status and bucket
        await conn.execute(statement)
    await conn.execute(  # a third of the ended runs gone: their deltas cancel those above
        "DELETE FROM workflow_schedule_executions"
        " WHERE status IN ('succeeded', 'failed') AND extract(second FROM scheduled_at) < 20"
    )
    # Deltas that expand into one metric and not the other: a final run's duration changed
    # (no run added, a duration), a run without a duration (a run, no duration's sum).
    await conn.execute(
        "INSERT INTO workflow_schedule_outcome_deltas"
        " (trigger_id, tenant, status, runs, duration_bucket, duration_sum_ms) VALUES"
        " ('00000000-0000-4000-8000-0000000000aa', 'tenant-0', 'succeeded', 0, '5', 7),"
        " ('00000000-0000-4000-8000-0000000000bb', 'tenant-1', 'failed', 1, '0', 0)"
    )
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM (SELECT trigger_id, status, duration_bucket"
        " FROM workflow_schedule_outcome_deltas GROUP BY 1, 2, 3 HAVING sum(runs) = 0) g"
    )
    assert (await cursor.fetchone() or {})["n"] > 0, "no key cancels out: the case is gone"
    before = await _every_scope(conn)
    assert await fold(conn) is not None
    assert await _every_scope(conn) == before


async def _every_scope(conn: Conn) -> list[tuple[str, str, str, int]]:
    """Every scope's sums as the readers add them up, values and deltas, zeros included."""
    cursor = await conn.execute(WITH_OUTCOME_DELTAS)
    return sorted((r["scope"], r["metric"], r["key"], r["sum"]) for r in await cursor.fetchall())
