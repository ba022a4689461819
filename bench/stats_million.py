"""Statistics of one schedule with 1,000,000 executions (SPEC §9: ≤ 50 ms).

    .venv/bin/python -m bench.stats_million [--rows 1000000]

Starts a throwaway cluster (fsync off), fills one schedule's history with generate_series
(through the real triggers), folds the deltas as the workers do, then times the reads the API
makes. `python -m bench` runs the same `measure` on its own (durable) cluster: scenario `stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from psycopg.rows import dict_row

from app.services.executions import ExecutionService
from app.services.schedules import ScheduleService
from app.services.stats import StatsService
from db.migrate import upgrade
from db.repositories.stats import fold
from devtools.localpg import LocalCluster
from devtools.loopback import free_port

FILL = """
INSERT INTO workflow_schedule_executions
    (trigger_id, workflow_id, tenant, scheduled_at, executed_at, started_at, finished_at,
     fire_at, status, attempts, duration_ms, http_status, created_at)
SELECT %(id)s, 'wf', 'bench', t, t, t, t + make_interval(secs => d / 1000.0), t,
       CASE WHEN g %% 20 = 0 THEN 'failed' ELSE 'succeeded' END, 1, d, 200, now()
FROM generate_series(1, %(rows)s) AS g,
     LATERAL (SELECT timestamptz '2020-01-01' + make_interval(secs => g) AS t,
                     (20 + (g::bigint * 7919) %% 500)::int AS d) AS x
"""


async def measure(url: str, rows: int, rounds: int = 30) -> dict[str, Any]:
    """Fill one schedule's history in the migrated database at `url`, then time the reads."""
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        schedule = await ScheduleService(conn, "bench").create(
            {"id": uuid4(), "workflow_id": "wf", "cron_expression": "* * * * * *"}
        )
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(FILL, {"id": schedule.id, "rows": rows})  # type: ignore[arg-type]
        fill_s = time.perf_counter() - started
        await fold(conn)
        await conn.execute("ANALYZE")
        stats = StatsService(conn, "bench")
        runs = ExecutionService(conn, "bench")
        timings: dict[str, list[float]] = {
            "stats": [],
            "detail stats+latest": [],
            "history page (50)": [],
        }
        for _ in range(rounds):
            t = time.perf_counter()
            result = await stats.of_schedule(schedule)
            timings["stats"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await stats.of_schedule(schedule)
            await stats.latest_execution(schedule)
            timings["detail stats+latest"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await runs.history(schedule.id, limit=50)
            timings["history page (50)"].append(time.perf_counter() - t)
    reads = {}
    for name, values in timings.items():
        values.sort()
        reads[name] = {
            "p50_ms": statistics.median(values) * 1000,
            "p95_ms": values[int(0.95 * (len(values) - 1))] * 1000,
            "max_ms": values[-1] * 1000,
        }
    return {
        "rows": rows,
        "fill_s": fill_s,
        "total": result.total,
        "success_rate": result.success_rate,
        "avg_duration_ms": result.avg_duration_ms,
        "p95_duration_ms": result.p95_duration_ms,
        "reads": reads,
    }


async def main(rows: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="wfs-bench-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "pg", free_port(), fast_and_unsafe=True)
    cluster.start()
    try:
        url = cluster.create_database("bench")
        upgrade(url)
        found = await measure(url, rows)
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    print(f"rows: {rows:,} (filled in {found['fill_s']:.1f} s, triggers included)")
    print(
        f"total={found['total']:,} successRate={found['success_rate']} "
        f"avg={found['avg_duration_ms']} p95={found['p95_duration_ms']}"
    )
    print(f"{'read':24} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, r in found["reads"].items():
        print(f"{name:24} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['max_ms']:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().rows))
