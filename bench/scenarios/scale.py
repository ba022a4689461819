"""Scale: does dispatch cost per due slot grow with the number of schedules stored?

Runs with the same load, `scale_due` every-second schedules (created through the service
layer) and 2 workers, next to stored-but-not-due schedules: 10,000 in all, then each size of
`scale_stored` (full: 1,000,000 and 10,000,000; quick: 50,000). The stored ones are one yearly
slot each, spread over the next ~300 days, written by one SQL INSERT ... SELECT (the service
would take ~15 min for a million): cron `M H D Mo *`, and
next_run_at = next_fire_at = that instant, which is what the service's planner computes for it
(checked on a sample of rows with `app.domain.schedule.plan`). Measured: worker and PostgreSQL CPU
per fired slot, fire lag, worker RSS.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.domain.schedule import Schedule, plan
from bench.scenarios.common import (
    Context,
    attempt,
    create_schedules,
    engine_breakdown,
    measure_steady,
)
from bench.scenarios.steady import WORKERS
from bench.service import service_env, start_workers

BULK_INSERT = """
INSERT INTO workflow_schedules
    (id, tenant, workflow_id, cron_expression, timezone, state, next_run_at, next_fire_at)
SELECT gen_random_uuid(), 'bench-stored', 'stored-' || (g %% 1000),
       format('%%s %%s %%s %%s *', extract(minute FROM t)::int, extract(hour FROM t)::int,
              extract(day FROM t)::int, extract(month FROM t)::int),
       'UTC', 'active', t, t
FROM generate_series(1, %(count)s) AS g,
     LATERAL (SELECT (now() AT TIME ZONE 'UTC') + interval '5 days'
                     + make_interval(mins => ((g::bigint * 7919) %% (300 * 1440))::int)
                     AS b) AS base,
     LATERAL (SELECT make_timestamptz(extract(year FROM b)::int, extract(month FROM b)::int,
                                      least(extract(day FROM b)::int, 28),
                                      extract(hour FROM b)::int, extract(minute FROM b)::int,
                                      0, 'UTC') AS t) AS slot
"""


def run(ctx: Context) -> dict[str, Any]:
    return {
        "small": attempt(one, ctx, ctx.sizes.scale_small),
        "large": [attempt(one, ctx, stored) for stored in ctx.sizes.scale_stored],
    }


def bulk_insert(url: str, count: int) -> float:
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(BULK_INSERT, {"count": count})
        conn.execute("VACUUM ANALYZE workflow_schedules")
        elapsed = time.monotonic() - started
        conn.execute("CHECKPOINT")  # its writes must not land in the measured window
        rows = conn.execute(
            "SELECT *, clock_timestamp() AS db_now FROM workflow_schedules"
            " WHERE tenant = 'bench-stored' ORDER BY random() LIMIT 200"
        ).fetchall()
    for row in rows:
        now = row.pop("db_now")
        planned = plan(Schedule(**row), now)
        if (planned.next_run_at, planned.next_fire_at) != (row["next_run_at"], row["next_fire_at"]):
            raise RuntimeError(f"bulk row {row['id']} disagrees with the planner: {planned}")
    return elapsed


def one(ctx: Context, stored: int) -> dict[str, Any]:
    due = ctx.sizes.scale_due
    name = f"ours_scale_{stored}"
    url = ctx.cluster.migrated_database(name)
    try:
        # The stored ones first: due schedules created before a bulk insert of minutes would
        # start the window catching up those minutes' slots (measured at 1,000,000: 2.7 runs
        # inserted per slot of the window, and its cost counted as the cost of the size).
        insert_s = bulk_insert(url, stored - due)
        create_schedules(url, due, "* * * * * *", workflow_id="due")
        prefix = f"/scale{stored}/due"
        env = service_env(url, f"{ctx.target_url}{prefix}/{{workflowId}}")
        workers = start_workers(ctx.procs, WORKERS, env)
        try:
            ctx.cluster.reset_statements()
            result = measure_steady(ctx, prefix, workers, due, ctx.sizes.scale_seconds)
        finally:
            ctx.procs.stop(workers)
        result["statements"] = ctx.cluster.top_statements(name, per=due * ctx.sizes.scale_seconds)
        result["engine_breakdown"] = engine_breakdown(url, result["window"])
        ctx.lag_samples.pop(prefix, None)  # the plot shows the steady scenario only
        return {**result, "stored": stored, "bulk_insert_s": insert_s}
    finally:
        ctx.cluster.drop_database(name)
