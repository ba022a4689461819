"""Catch-up: `catchup_schedules` every-second schedules back from an outage of `catchup_outage_s`
seconds, 2 workers started after it. Ours only: what a restart after a long stop costs.

The outage is made the way a stop of every worker leaves the schedules: their next slot is set
back by the outage (one UPDATE), then the workers start. Each schedule's first pass decides
every slot since (`app/domain/firing.py`, the default misfire policy `fire_once` with 60 s of
grace): up to 1,000 slots recorded `missed` (the rest counted), the slots within the grace
fired or skipped (one fires, the others overlap it). So 1,000 schedules after 20 minutes are
~1.06 million rows to write before the schedules are on time again.

Measured: seconds from the workers' start until no schedule is more than 2 s behind, the rows
recorded by status, the largest RSS of a worker, and the CPU (workers, PostgreSQL) per row.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.scenarios.common import Context, attempt, create_schedules
from bench.scenarios.steady import WORKERS
from bench.service import RssMonitor, cpu_seconds, service_env, start_workers

BEHIND = """
SELECT count(*) FILTER (WHERE next_fire_at < clock_timestamp() - interval '2 seconds') AS behind
FROM workflow_schedules WHERE tenant = 'bench' AND state = 'active'
"""
TIMEOUT_S = 900.0


def run(ctx: Context) -> dict[str, Any]:
    return attempt(ours, ctx, ctx.sizes.catchup_schedules, ctx.sizes.catchup_outage_s)


def ours(ctx: Context, schedules: int, outage_s: int) -> dict[str, Any]:
    name = "ours_catchup"
    url = ctx.cluster.migrated_database(name)
    try:
        create_schedules(url, schedules, "* * * * * *", workflow_id="catchup")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE workflow_schedules SET"
                " next_run_at = next_run_at - make_interval(secs => %(s)s),"
                " next_fire_at = next_fire_at - make_interval(secs => %(s)s)"
                " WHERE tenant = 'bench'",
                {"s": outage_s},
            )
            conn.execute("VACUUM ANALYZE workflow_schedules")
        env = service_env(url, f"{ctx.target_url}/catchup/{{workflowId}}")
        cpu_before, store_before = 0.0, ctx.cluster.cpu_seconds()
        started = time.monotonic()
        workers = start_workers(ctx.procs, WORKERS, env)
        try:
            with RssMonitor(workers) as rss, psycopg.connect(url, autocommit=True) as conn:
                caught_up_s = None
                while time.monotonic() - started < TIMEOUT_S:
                    ctx.procs.check_alive(workers)
                    if conn.execute(BEHIND).fetchone()[0] == 0:  # type: ignore[index]
                        caught_up_s = time.monotonic() - started
                        break
                    time.sleep(0.5)
                cpu = cpu_seconds(workers) - cpu_before
                store = ctx.cluster.cpu_seconds() - store_before
                rows = dict(
                    conn.execute(
                        "SELECT status, count(*) FROM workflow_schedule_executions GROUP BY 1"
                    ).fetchall()
                )
        finally:
            ctx.procs.stop(workers)
        recorded = sum(rows.values())
        return {
            "schedules": schedules,
            "outage_s": outage_s,
            "caught_up_s": None if caught_up_s is None else round(caught_up_s, 1),
            "rows": rows,
            "max_rss_mb": round(rss.max_mb, 1),
            "cpu_ms_per_row": round(1000 * cpu / max(1, recorded), 4),
            "postgres_cpu_ms_per_row": round(1000 * store / max(1, recorded), 4),
        }
    finally:
        ctx.cluster.drop_database(name)
