"""What the history's layout costs its writes per run (issue 13, docs/benchmarks.md): random
ids against ids in time order (app/domain/run_ids.py, "Run ids in time order"), the
B-tree on `created_at` against migration 0024's BRIN ("ninth stop"), and the index of the
specs runs name that migration 0028 dropped ("thirteenth stop").

    .venv/bin/python -m bench.run_ids [--rows 2000000] [--runs 100000] [--rounds 2]
        [--kinds random,ordered | ordered,btree-created | ordered,spec-index]

Starts a throwaway cluster (fsync on, PostgreSQL's default memory settings) and fills one
database at head per kind with the same day of finished runs of 1,000 schedules, `rows` of
them: `random` with random ids (version 4, what the engine made before migration 0022),
`ordered` with ids that start with their creation instant, `btree-created` ordered ids with
the history's index on `created_at` as it was before migration 0024, `spec-index` ordered
ids with the index of the specs runs name, as before migration 0028. Then, `rounds` times,
in each database in turn (the order alternates between rounds): a CHECKPOINT (as PostgreSQL
takes every few minutes), then `runs` more slots through the engine's own statements, as the
dispatcher and the executor write them: inserted already started in batches of 250
(`execution_insert_many`) and finished in batches of 500 (`execution_finish_many`).
Reported per run: PostgreSQL's wall time on one connection (the client waits on nothing
else; commits wait for the disk), the backend's CPU time, WAL bytes, full-page images and
blocks read from outside shared buffers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql

from app.domain.run_ids import run_id
from bench.run_params import finish_params, insert_params
from db.migrate import upgrade
from db.queries import query
from devtools.localpg import LocalCluster
from devtools.loopback import free_port

DAY = datetime(2026, 11, 2, tzinfo=UTC)
SCHEDULES = 1_000
INSERT_BATCH, FINISH_BATCH = 250, 500
SCHEDULE = "00000000-0000-4000-8000-{:012d}"
FILL = """
INSERT INTO workflow_schedule_executions (
    id, trigger_id, workflow_id, tenant, scheduled_at, status, duration_ms, finished_at,
    executed_at, started_at, fire_at, attempts, http_status, created_at)
SELECT {id}, ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'wf-' || t,
       'tenant-' || (t %% 10), x.at, 'succeeded', 20, x.at + interval '20 ms', x.at, x.at, x.at,
       1, 200, x.at
FROM generate_series(%(first)s::integer, %(last)s::integer) AS s, generate_series(1, 1000) AS t,
     LATERAL (SELECT %(day)s::timestamptz + make_interval(secs => s + t * 0.0008) AS at) x
ORDER BY x.at
"""
IDS = {"random": "gen_random_uuid()", "ordered": "wfs_run_id(x.at)"}
SPEC_INDEX = (  # the index of the specs runs name, as before migration 0028
    "CREATE INDEX workflow_schedule_executions_spec_idx"
    " ON workflow_schedule_executions (spec_digest)",
)
BTREE_CREATED = (  # the index of migration 0010, as before 0024
    "DROP INDEX workflow_schedule_executions_default_created_idx",
    "DROP INDEX workflow_schedule_executions_created_idx",
    "CREATE INDEX workflow_schedule_executions_created_idx"
    " ON workflow_schedule_executions (created_at)",
)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {  # kind: (its ids, its changes to head)
    "random": ("random", ()),
    "ordered": ("ordered", ()),
    "btree-created": ("ordered", BTREE_CREATED),
    "spec-index": ("ordered", SPEC_INDEX),
}
STATS = """
SELECT pg_current_wal_lsn() - '0/0'::pg_lsn,
       (SELECT wal_fpi FROM pg_stat_wal),
       (SELECT blks_read FROM pg_stat_database WHERE datname = current_database())
"""


def fill(url: str, kind: str, rows: int) -> None:
    """`rows` finished runs, one second of 1,000 slots after another from the day's start,
    in batches of 100 seconds (the order the engine writes them), after the kind's changes."""
    seconds = rows // SCHEDULES
    ids, changes = KINDS[kind]
    statement = sql.SQL(FILL).format(id=sql.SQL(IDS[ids]))
    with psycopg.connect(url, autocommit=True) as conn:
        for change in changes:
            conn.execute(change)
        conn.execute("SELECT wfs_history_partition_create(%s, %s)", (DAY, DAY + timedelta(days=1)))
        conn.execute(
            "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression,"
            " next_run_at, next_fire_at)"
            " SELECT ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid,"
            " 'tenant-' || (t %% 10), 'wf-' || t, '* * * * * *', %(at)s, %(at)s"
            " FROM generate_series(1, 1000) AS t",
            {"at": DAY + timedelta(hours=23)},
        )
        for first in range(0, seconds, 100):
            last = min(first + 100, seconds) - 1
            conn.execute(statement, {"first": first, "last": last, "day": DAY})
        conn.execute("VACUUM ANALYZE")


def _stats(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    # This backend's counters reach pg_stat_wal at the end of its next transaction.
    conn.execute("SELECT pg_stat_force_next_flush()")
    row = conn.execute(STATS).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _backend_cpu_seconds(pid: int) -> float:
    """User + system CPU of a PostgreSQL backend on this machine (/proc, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_runs(url: str, kind: str, first_second: int, runs: int) -> dict[str, float]:
    """`runs` slots from `first_second` of the day on, after a CHECKPOINT: inserted already
    started, then finished, as the engine does; costs per run."""
    insert, finish = query("execution_insert_many"), query("execution_finish_many")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        wal, fpi, reads = _stats(conn)
        cpu = _backend_cpu_seconds(conn.info.backend_pid)
        started, ran, slots = time.perf_counter(), [], []
        for done in range(0, runs, INSERT_BATCH):
            slot = DAY + timedelta(seconds=first_second + done // SCHEDULES)
            first = done % SCHEDULES
            ids = [uuid4() if kind == "random" else run_id(slot) for _ in range(INSERT_BATCH)]
            schedules = range(first + 1, first + INSERT_BATCH + 1)
            conn.execute(
                insert,
                insert_params(
                    ids,
                    [SCHEDULE.format(t) for t in schedules],
                    [f"tenant-{t % 10}" for t in schedules],
                    slot,
                    status="running",
                    now=slot,
                ),
            )
            ran += ids
            slots += [slot] * len(ids)
            if len(ran) >= FINISH_BATCH:
                conn.execute(finish, finish_params(ran, slots))
                ran, slots = [], []
        if ran:
            conn.execute(finish, finish_params(ran, slots))
        elapsed = time.perf_counter() - started
        cpu = _backend_cpu_seconds(conn.info.backend_pid) - cpu
        wal_after, fpi_after, reads_after = _stats(conn)
    return {
        "us_per_run": round(elapsed / runs * 1e6, 1),
        "cpu_us_per_run": round(cpu / runs * 1e6, 1),
        "wal_bytes_per_run": round((wal_after - wal) / runs),
        "fpi_per_run": round((fpi_after - fpi) / runs, 3),
        "blocks_read_per_run": round((reads_after - reads) / runs, 3),
    }


def measure(
    cluster: LocalCluster, kinds: list[str], rows: int, runs: int, rounds: int
) -> dict[str, Any]:
    urls = {kind: cluster.create_database(kind.replace("-", "_")) for kind in kinds}
    for kind, url in urls.items():
        upgrade(url)
        fill(url, kind, rows)
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    second = rows // SCHEDULES
    for round_ in range(rounds):
        for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
            results[kind].append(write_runs(urls[kind], KINDS[kind][0], second, runs))
        second += runs // SCHEDULES + 1
    return {
        "rows_before": rows,
        "runs_per_round": runs,
        "results": results,
        "index_mb": {kind: _index_sizes(url) for kind, url in urls.items()},
    }


def _index_sizes(url: str) -> dict[str, float]:
    """The day partition's indexes, MB each, after every round."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'workflow_schedule_executions_p20261102_0000'::regclass"
            " ORDER BY 1"
        ).fetchall()
    return {name: round(size / 1e6, 1) for name, size in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="runs already in the day")
    parser.add_argument("--runs", type=int, default=100_000, help="runs written per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--kinds", default="random,ordered", help=f"comma-separated, of {', '.join(KINDS)}"
    )
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"--kinds: unknown {', '.join(sorted(unknown))}")
    base = Path(tempfile.mkdtemp(prefix="wfs-bench-run-ids-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "pg", free_port())  # fsync on: WAL and time are real
    cluster.start()
    try:
        report = measure(cluster, kinds, args.rows, args.runs, args.rounds)
        print(json.dumps(report, indent=2))
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
