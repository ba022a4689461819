"""History partitions: made ahead, retired whole, with the same rows kept and the same statistics
as the batched DELETE gave (docs/history-partitions.md). Time is frozen: every call takes `now`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from app.domain.history_partitions import PartitionPolicy
from app.services import history_partitions as history
from app.services.retention import prune
from db.pool import create_pool
from db.queries import query
from db.repositories import history_partitions as repo
from db.types import Conn
from devtools.localpg import LocalCluster
from worker.maintenance import HistoryPartitions, MaintenanceConfig

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
RETENTION_DAYS = 30
CUTOFF = NOW - timedelta(days=RETENTION_DAYS)  # 2026-04-20 12:00
POLICY = PartitionPolicy(width=timedelta(days=1), ahead=2)
LOCK_TIMEOUT = 5.0
FINAL = "('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')"

# Slots over 2026-04-15 .. 04-22 (partitions made when "now" was then) and beyond, in every
# status, with durations; created when they fired, except a few backfills created lately.
ROWS = """
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, status, duration_ms, created_at)
SELECT t.id, 'wf', 'tenant-' || (t.n %% 2), s.at,
       (ARRAY['succeeded', 'failed', 'timed_out', 'skipped', 'running', 'missed', 'cancelled',
              'succeeded', 'failed', 'succeeded'])[1 + (s.i + t.n) %% 10],
       CASE WHEN (s.i + t.n) %% 10 IN (0, 1, 7, 8, 9) THEN 3 * s.i + t.n END,
       CASE WHEN s.i %% 37 = 2 THEN %(late_created)s ELSE s.at END
FROM (SELECT i, '2026-04-15T00:00:00Z'::timestamptz + make_interval(hours => 5 * i) AS at
      FROM generate_series(0, 60) AS i) AS s,
     (SELECT n, ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid AS id
      FROM generate_series(1, 3) AS n) AS t
"""
# Slots no partition covers: the DEFAULT partition (a backfill of last year).
DEFAULT_ROWS = """
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, status, duration_ms, created_at)
VALUES ('00000000-0000-4000-8000-000000000001', 'wf', 'tenant-1', '2025-01-01T00:00:00Z',
        'succeeded', 40, '2026-01-01T00:00:00Z'),
       ('00000000-0000-4000-8000-000000000001', 'wf', 'tenant-1', '2025-01-01T01:00:00Z',
        'succeeded', 50, %(late_created)s),
       ('00000000-0000-4000-8000-000000000002', 'wf', 'tenant-0', '2025-01-01T02:00:00Z',
        'pending', NULL, '2026-01-01T00:00:00Z')
"""


def stats(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Every statistic per schedule, tenant and key, folded or not (what a read adds up)."""
    return conn.execute(
        """SELECT trigger_id, tenant, metric, key, sum(value) FROM (
               SELECT d.trigger_id, d.tenant, d.metric, d.key, d.value
               FROM workflow_schedule_unfolded_stats d
           ) v GROUP BY 1, 2, 3, 4 HAVING sum(value) <> 0 ORDER BY 1, 2, 3, 4"""
    ).fetchall()


def remaining(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT * FROM workflow_schedule_executions ORDER BY trigger_id, scheduled_at"
    ).fetchall()


async def _connect(url: str) -> Conn:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


@pytest.fixture
def twins(pg_cluster: LocalCluster, database_url: str) -> tuple[str, str]:
    """Two databases with the same partitions and history: one retires, one DELETEs."""
    import asyncio

    async def partitions() -> None:
        async with await _connect(database_url) as conn:
            for day in range(15, 23, 3):  # as the maintenance made them on those days
                await history.ensure_ahead(
                    conn, datetime(2026, 4, day, tzinfo=UTC), POLICY, LOCK_TIMEOUT
                )
            await history.ensure_ahead(conn, NOW, POLICY, LOCK_TIMEOUT)

    asyncio.run(partitions())
    late = {"late_created": NOW - timedelta(days=2)}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(ROWS, late)
        conn.execute(DEFAULT_ROWS, late)
    twin = pg_cluster.create_database(
        f"twin_{os.getpid()}_{database_url.rsplit('_', 1)[1]}",
        template=database_url.rsplit("/", 1)[1],
    )
    return database_url, twin


def delete_path(url: str) -> None:
    """What retention did before partitions: every finished run created before the cutoff."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"DELETE FROM workflow_schedule_executions WHERE created_at < %s AND status IN {FINAL}",
            (CUTOFF,),
        )


async def test_retirement_keeps_what_delete_kept_and_the_same_statistics(
    twins: tuple[str, str],
) -> None:
    retiring, deleting = twins
    async with await _connect(retiring) as conn:
        before = {p.name for p in await repo.list_partitions(conn)}
        done = await history.maintain(conn, NOW, POLICY, RETENTION_DAYS, LOCK_TIMEOUT)
        await prune(conn, RETENTION_DAYS, now=NOW)  # the DEFAULT partition's rows
        after = {p.name for p in await repo.list_partitions(conn)}
    delete_path(deleting)

    # Partitions of 04-15 .. 04-19 held only slots older than the cutoff: gone. The one of
    # 04-20 straddles it and stays (a partition goes whole, up to one width late).
    assert set(done.retired.partitions) == {
        f"workflow_schedule_executions_p202604{d}_0000" for d in range(15, 20)
    }
    assert before - after == set(done.retired.partitions) and not done.retired.waiting
    assert done.retired.kept > 0  # the running runs and the late backfills moved to DEFAULT
    with psycopg.connect(retiring) as a, psycopg.connect(deleting) as b:
        straddling = (
            "scheduled_at >= '2026-04-20T00:00:00Z' AND scheduled_at < '2026-04-21T00:00:00Z'"
        )
        # The DELETE path also took the straddling day's old rows one by one; the
        # partition keeps them until it goes. Everything else is the same, row for row.
        b_rows = remaining(b)
        a_rows = remaining(a)
        extra = a.execute(
            f"SELECT count(*) FROM workflow_schedule_executions WHERE {straddling}"
            f" AND created_at < %s AND status IN {FINAL}",
            (CUTOFF,),
        ).fetchone()
        assert extra is not None and extra[0] > 0
        assert len(a_rows) == len(b_rows) + extra[0]
        a.execute(
            f"DELETE FROM workflow_schedule_executions WHERE {straddling}"
            f" AND created_at < %s AND status IN {FINAL}",
            (CUTOFF,),
        )
        a.commit()
        assert remaining(a) == b_rows
        assert stats(a) == stats(b)
        staged = a.execute("SELECT count(*) FROM workflow_history_retired_stats").fetchone()
        assert staged == (0,)


async def test_a_run_that_ends_between_the_stage_and_the_drop_is_counted_once(
    twins: tuple[str, str],
) -> None:
    retiring, deleting = twins
    ending = (
        "UPDATE workflow_schedule_executions SET status = 'succeeded', duration_ms = 777 "
        "WHERE status = 'running' AND scheduled_at < '2026-04-16T00:00:00Z' AND created_at < %s"
    )
    async with await _connect(retiring) as conn:
        oldest = (await repo.list_partitions(conn))[0]
        assert oldest.name == "workflow_schedule_executions_p20260415_0000"
        async with conn.transaction():
            staged = await repo.stage_retirement(conn, oldest, CUTOFF)
        assert staged.rows > 0 and staged.late_ids
        ended = await conn.execute(ending, (CUTOFF,))
        assert ended.rowcount > 0
        async with conn.transaction():
            await repo.set_lock_timeout(conn, LOCK_TIMEOUT)
            kept = await repo.retire(conn, oldest, CUTOFF, staged.late_ids)
    with psycopg.connect(deleting, autocommit=True) as conn:
        conn.execute(ending, (CUTOFF,))
        conn.execute(
            "DELETE FROM workflow_schedule_executions WHERE scheduled_at >= '2026-04-15T00:00:00Z'"
            f" AND scheduled_at < '2026-04-16T00:00:00Z'"
            f" AND created_at < %s AND status IN {FINAL}",
            (CUTOFF,),
        )
    with psycopg.connect(retiring) as a, psycopg.connect(deleting) as b:
        assert stats(a) == stats(b)
        assert remaining(a) == remaining(b)
        moved = a.execute(
            "SELECT count(*) FROM workflow_schedule_executions_default"
            " WHERE scheduled_at >= '2026-04-15T00:00:00Z'"
            " AND scheduled_at < '2026-04-16T00:00:00Z'"
        ).fetchone()
    assert moved == (kept,) and kept > 0  # the late backfills of that day, nothing else


async def test_partitions_are_made_ahead_and_take_their_rows_from_default(conn: Conn) -> None:
    slot = datetime(2026, 5, 22, 8, tzinfo=UTC)
    await conn.execute(
        "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, scheduled_at)"
        " VALUES (gen_random_uuid(), 'wf', 't', %s)",
        (slot,),
    )
    # The slot's run is unfinished: it could be updated while moved, so its range waits.
    created = await history.ensure_ahead(conn, NOW, POLICY, LOCK_TIMEOUT)
    assert created == (
        "workflow_schedule_executions_p20260520_0000",
        "workflow_schedule_executions_p20260521_0000",
    )
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'succeeded',"
        " finished_at = scheduled_at WHERE scheduled_at = %s",
        (slot,),
    )
    created = await history.ensure_ahead(conn, NOW, POLICY, LOCK_TIMEOUT)
    assert created == ("workflow_schedule_executions_p20260522_0000",)
    assert await history.ensure_ahead(conn, NOW, POLICY, LOCK_TIMEOUT) == ()
    cursor = await conn.execute(
        "SELECT tableoid::regclass::text AS part FROM workflow_schedule_executions"
    )
    assert await cursor.fetchall() == [{"part": "workflow_schedule_executions_p20260522_0000"}]
    cursor = await conn.execute(
        "SELECT sum(value) AS n FROM workflow_schedule_unfolded_stats WHERE metric = 'status'"
    )
    assert await cursor.fetchone() == {"n": 1}, "a move is not an insert"
    # A narrower width from now on: the grid of 6 hours continues after the last day.
    narrower = PartitionPolicy(width=timedelta(hours=6), ahead=2)
    later = datetime(2026, 5, 22, 23, tzinfo=UTC)
    assert await history.ensure_ahead(conn, later, narrower, LOCK_TIMEOUT) == (
        "workflow_schedule_executions_p20260523_0000",
        "workflow_schedule_executions_p20260523_0600",
    )


async def test_a_partition_with_too_many_keepers_waits(twins: tuple[str, str]) -> None:
    retiring, _ = twins
    async with await _connect(retiring) as conn:
        retired = await history.retire_expired(
            conn, NOW, RETENTION_DAYS, LOCK_TIMEOUT, max_keepers=0
        )
        left = {p.name for p in await repo.list_partitions(conn)}
    expired = {f"workflow_schedule_executions_p202604{d}_0000" for d in range(15, 20)}
    # Days with a running run or a late backfill wait; the others go.
    assert retired.waiting and retired.partitions
    assert set(retired.waiting) | set(retired.partitions) == expired
    assert set(retired.waiting) <= left and not set(retired.partitions) & left


UNSUMMARIZED = """
SELECT brin_summarize_new_values(i.indexrelid) AS ranges
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'brin'
WHERE i.indrelid = %s::regclass
"""
OLD_DAY = datetime(2026, 4, 1, tzinfo=UTC)
# A day of 30,000 finished runs (~5 full page ranges of the BRIN index) and one backfill
# created after the cutoff, which keeps the partition waiting with max_keepers=0.
OLD_DAY_ROWS = """
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, status, duration_ms, created_at)
SELECT '00000000-0000-4000-8000-000000000001', 'wf', 't', s.at, 'succeeded', 10,
       CASE WHEN s.i = 1 THEN %(late)s ELSE s.at END
FROM (SELECT i, %(day)s::timestamptz + make_interval(secs => i * 2) AS at
      FROM generate_series(1, 30000) AS i) AS s
"""


async def test_a_retirement_reads_rows_created_late_through_a_summarized_index(
    conn: Conn,
) -> None:
    """The BRIN index on `created_at` has no summary for the pages written since the last
    VACUUM, and a scan reads such pages whole: a retirement summarizes them before its reads
    (it moves the rows created late under the history's ACCESS EXCLUSIVE lock)."""
    [name] = await history.ensure_ahead(
        conn, OLD_DAY, PartitionPolicy(width=timedelta(days=1), ahead=0), LOCK_TIMEOUT
    )
    await conn.execute(OLD_DAY_ROWS, {"day": OLD_DAY, "late": NOW - timedelta(days=1)})
    retired = await history.retire_expired(conn, NOW, RETENTION_DAYS, LOCK_TIMEOUT, max_keepers=0)
    assert retired.waiting == (name,)
    cursor = await conn.execute(UNSUMMARIZED, (name,))  # summarizes what is left: none
    assert await cursor.fetchone() == {"ranges": 0}


async def test_the_maintenance_loop_makes_ahead_and_retires_with_its_now(
    database_url: str,
) -> None:
    pool = create_pool(database_url, min_size=1, max_size=2)
    await pool.open()
    try:
        loop = HistoryPartitions(
            pool,
            MaintenanceConfig(history=POLICY, history_retention_days=RETENTION_DAYS),
        )
        first = await loop.run_once(NOW - timedelta(days=40))
        assert len(first.created) == 3 and first.retired.partitions == ()
        second = await loop.run_once(NOW)
        assert len(second.created) == 3 and len(second.retired.partitions) == 3
        assert second.default_rows == 0
    finally:
        await pool.close()


CREATED_AT_INDEXES = """
SELECT c.relname AS partition, am.amname AS method
FROM pg_inherits h
JOIN pg_class c ON c.oid = h.inhrelid
JOIN pg_index i ON i.indrelid = c.oid AND i.indpred IS NULL
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
WHERE h.inhparent = 'workflow_schedule_executions'::regclass
  AND a.attname = 'created_at' AND i.indnatts = 1
ORDER BY 1, 2
"""


async def test_only_the_default_partition_has_a_btree_on_created_at(conn: Conn) -> None:
    """A run's insert and finish add no B-tree entry on `created_at` (migration 0024): the
    range partitions have a BRIN index (retirement looks for rows created late with it), the
    DEFAULT partition a B-tree, which retention's DELETE path reads in order."""
    made = await history.ensure_ahead(conn, NOW, POLICY, LOCK_TIMEOUT)  # after the migration
    assert made
    cursor = await conn.execute(CREATED_AT_INDEXES)
    methods: dict[str, list[str]] = {}
    for row in await cursor.fetchall():
        methods.setdefault(row["partition"], []).append(row["method"])
    assert methods.pop("workflow_schedule_executions_default") == ["brin", "btree"]
    assert set(made) <= set(methods)
    assert all(found == ["brin"] for found in methods.values()), methods
    async with conn.transaction(force_rollback=True):
        await conn.execute("SET LOCAL enable_seqscan = off")
        explain = sql.SQL("EXPLAIN (FORMAT JSON) ") + query("execution_prune_batch")
        cursor = await conn.execute(explain, {"now": NOW, "days": RETENTION_DAYS, "limit": 10})
        row = await cursor.fetchone()
        assert row is not None
        assert "workflow_schedule_executions_default_created_idx" in json.dumps(row)
