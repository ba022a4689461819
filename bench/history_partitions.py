"""The partitioned history's costs (issue 13, docs/history-partitions.md).

    .venv/bin/python -m bench.history_partitions [--days 40] [--rows-per-day 100000]
    .venv/bin/python -m bench.history_partitions --base-url postgresql://postgres@HOST:PORT

Starts a throwaway cluster (fsync on) unless given a server, and fills two databases with the
same history: `flat` at migration 0009 (one table) and `part` at head (one partition per day),
`days` days of `rows-per-day` finished runs of 1,000 schedules. Then:

- hot path: EXPLAIN (ANALYZE, BUFFERS) of the statements that touch the history per slot (the
  executor's start and finish of a batch of 100 runs by id, the dispatcher's insert and claim,
  a lookup by id), median of 7, in `part`. Head's statements name tables that later
  migrations made (attempt specs, the unfinished floor, ...), so they no longer run on the
  0009 schema: the one-table comparison was measured when 0010 landed (docs/benchmarks.md) and
  `flat` serves retention's comparison only;
- retention of one day: the batched DELETE (5,000 rows a transaction, as before 0010) against
  the partition's retirement (stage + detach/drop): wall time and WAL bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from app.services import history_partitions
from bench.run_params import finish_params, insert_params
from db.migrate import upgrade
from db.queries import query
from db.repositories.executions import key_params
from devtools.localpg import LocalCluster
from devtools.loopback import free_port

FIRST_DAY = datetime(2026, 10, 27, tzinfo=UTC)
SCHEDULES = 1_000
FILL = """
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, status, duration_ms, finished_at,
    executed_at, started_at, fire_at, attempts, http_status, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'wf-' || t,
       'tenant-' || (t %% 10), x.at, 'succeeded', 20, x.at + interval '20 ms', x.at, x.at, x.at,
       1, 200, x.at
FROM generate_series(0, %(per_schedule)s - 1) AS s, generate_series(1, 1000) AS t,
     LATERAL (SELECT %(day)s::timestamptz
                     + make_interval(secs => s * 86400.0 / %(per_schedule)s + t * 0.08) AS at) x
"""
SCHEDULES_FILL = """
INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, next_run_at,
                                next_fire_at)
SELECT ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'tenant-' || (t %% 10),
       'wf-' || t, '* * * * * *', %(at)s, %(at)s
FROM generate_series(1, 1000) AS t
"""


def fill(url: str, days: int, rows_per_day: int, partitioned: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        if partitioned:
            for day in range(days):
                lower = FIRST_DAY + timedelta(days=day)
                conn.execute(
                    "SELECT wfs_history_partition_create(%s, %s)",
                    (lower, lower + timedelta(days=1)),
                )
        for day in range(days):
            conn.execute(
                FILL,
                {
                    "day": FIRST_DAY + timedelta(days=day),
                    "per_schedule": rows_per_day // SCHEDULES,
                },
            )
        conn.execute(SCHEDULES_FILL, {"at": FIRST_DAY + timedelta(days=days - 1, hours=12)})
        conn.execute("VACUUM ANALYZE")


PENDING = """UPDATE workflow_schedule_executions SET status = 'pending', attempts = 0,
    started_at = NULL, executed_at = NULL WHERE id = ANY(%(ids)s)"""
GET = "SELECT * FROM workflow_schedule_executions WHERE id = %(id)s AND tenant = %(tenant)s"
OLD_DELETE_BATCH = """
WITH gone AS (
    DELETE FROM workflow_schedule_executions WHERE id IN (
        SELECT id FROM workflow_schedule_executions
        WHERE created_at < %(cutoff)s
          AND status IN ('succeeded', 'failed', 'skipped', 'missed', 'cancelled')
        ORDER BY created_at LIMIT 5000 FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM gone
"""


def _explain(conn: psycopg.Connection[Any], statement: sql.Composable, params: Any) -> Any:
    explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + statement
    row = conn.execute(explain, params).fetchone()
    assert row is not None
    return next(iter(row.values()))[0]


def _buffers(plan: dict[str, Any]) -> int:
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


def hot_path(url: str, days: int) -> dict[str, dict[str, float]]:
    """Median execution and planning ms, and shared buffers, of each per-slot statement."""
    last_day = FIRST_DAY + timedelta(days=days - 1)
    results: dict[str, list[tuple[float, float, int]]] = {}
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id, tenant, scheduled_at FROM workflow_schedule_executions"
            " WHERE scheduled_at >= %s ORDER BY scheduled_at LIMIT 100",
            (last_day + timedelta(hours=12),),
        ).fetchall()
        conn.rollback()
        for _ in range(7):
            conn.execute(sql.SQL(PENDING), {"ids": [r["id"] for r in rows]})  # type: ignore[arg-type]
            for name, statement, params in _steps(rows, last_day):
                plan = _explain(conn, statement, params)
                results.setdefault(name, []).append(
                    (plan["Execution Time"], plan["Planning Time"], _buffers(plan["Plan"]))
                )
            conn.rollback()
    return {
        name: {
            "execution_ms": round(statistics.median(r[0] for r in runs), 3),
            "planning_ms": round(statistics.median(r[1] for r in runs), 3),
            "buffers": statistics.median(r[2] for r in runs),
        }
        for name, runs in results.items()
    }


def _steps(
    rows: list[dict[str, Any]], last_day: datetime
) -> list[tuple[str, sql.Composable, dict[str, Any]]]:
    n = len(rows)
    ids = [r["id"] for r in rows]
    new_slot = last_day + timedelta(days=1, seconds=-1)
    triggers = [f"00000000-0000-4000-8000-{t:012d}" for t in range(1, n + 1)]
    finish = finish_params(ids, [r["scheduled_at"] for r in rows])
    insert = insert_params(
        [None] * n,
        triggers,
        [f"tenant-{t % 10}" for t in range(1, n + 1)],
        new_slot,
        status="pending",
        now=None,
    )
    claim = {
        "now": last_day + timedelta(hours=12),
        "lookahead": 3.0,
        "limit": SCHEDULES,
        "crowd_from": None,
        "crowd_until": None,
        "crowd_lookahead": None,
    }
    around = rows[0]["scheduled_at"]
    keys = {"ids": ids, "from": around - timedelta(days=1), "until": around + timedelta(days=1)}
    start = key_params(dict(zip(ids, finish["scheduled_ats"], strict=True)), None)
    return [
        ("keys of 100 ids, near", query("execution_keys_near"), keys),
        ("keys of 100 ids, anywhere", query("execution_keys_anywhere"), {"ids": ids}),
        ("start 100 by key", query("execution_start_attempts"), start),
        ("finish 100", query("execution_finish_many"), finish),
        ("get 1 by id", sql.SQL(GET), {"id": ids[0], "tenant": rows[0]["tenant"]}),
        ("insert 100 slots", query("execution_insert_many"), insert),
        ("claim 1000 due", query("schedule_claim_due"), claim),
    ]


def _wal_lsn(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS at").fetchone()
    assert row is not None
    return int(row[0])


def retention_by_delete(url: str) -> dict[str, float]:
    """The batched DELETE of one day (before 0010), then the VACUUM it makes necessary."""
    with psycopg.connect(url, autocommit=True) as conn:
        cutoff = FIRST_DAY + timedelta(days=1)
        wal, started, rows = _wal_lsn(conn), time.perf_counter(), 0
        while True:
            row = conn.execute(sql.SQL(OLD_DELETE_BATCH), {"cutoff": cutoff}).fetchone()
            assert row is not None
            if not (n := int(next(iter(row)))):
                break
            rows += n
        deleted = time.perf_counter() - started
        wal_delete = _wal_lsn(conn) - wal
        started = time.perf_counter()
        conn.execute("VACUUM workflow_schedule_executions")
        vacuumed = time.perf_counter() - started
        wal_vacuum = _wal_lsn(conn) - wal - wal_delete
    return {
        "rows": rows,
        "delete_s": round(deleted, 2),
        "delete_wal_mb": round(wal_delete / 1e6, 1),
        "vacuum_s": round(vacuumed, 2),
        "vacuum_wal_mb": round(wal_vacuum / 1e6, 1),
    }


async def retention_by_retirement(url: str, retention_days: int = 30) -> dict[str, float]:
    """The retirement of the first day's partition: stage (read) + detach/keep/drop."""
    now = FIRST_DAY + timedelta(days=1 + retention_days)
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        cursor = await conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS at")
        wal = int((await cursor.fetchone())["at"])  # type: ignore[index]
        started = time.perf_counter()
        retired = await history_partitions.retire_expired(conn, now, retention_days, 5.0)
        elapsed = time.perf_counter() - started
        cursor = await conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS at")
        wal_used = int((await cursor.fetchone())["at"]) - wal  # type: ignore[index]
    return {
        "partitions": len(retired.partitions),
        "kept": retired.kept,
        "retire_s": round(elapsed, 2),
        "retire_wal_mb": round(wal_used / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--rows-per-day", type=int, default=100_000)
    parser.add_argument("--base-url", help="an existing server (postgresql://user@host:port)")
    parser.add_argument("--no-fill", action="store_true", help="databases are filled already")
    parser.add_argument("--skip-retention", action="store_true")
    args = parser.parse_args()
    if args.base_url:
        print(json.dumps(measure(args.base_url, args), indent=2))
        return
    base = Path(tempfile.mkdtemp(prefix="wfs-bench-partitions-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "pg", free_port())  # fsync on: WAL and time are real
    cluster.start()
    try:
        server = cluster.url().rsplit("/", 1)[0]  # measure() names its own databases
        print(json.dumps(measure(server, args), indent=2))
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def measure(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    urls = {name: f"{base_url}/{name}" for name in ("flat", "part")}
    if not args.no_fill:
        with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
            for name in urls:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        upgrade(urls["flat"], "0009")
        upgrade(urls["part"])
        for name, url in urls.items():
            fill(url, args.days, args.rows_per_day, partitioned=name == "part")
    report: dict[str, Any] = {
        "days": args.days,
        "rows_per_day": args.rows_per_day,
        "hot_path": {"part": hot_path(urls["part"], args.days)},
    }
    if not args.skip_retention:
        report["retention_one_day"] = {
            "flat_delete_batches": retention_by_delete(urls["flat"]),
            "part_retirement": asyncio.run(retention_by_retirement(urls["part"])),
        }
    return report


if __name__ == "__main__":
    main()
