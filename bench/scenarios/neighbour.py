"""Neighbour: the steady window of `steady_schedules` every-second schedules (tenant `bench`), run
twice in a row: beside an idle neighbour, then beside a neighbour tenant holding
`neighbour_backlog` runs `accepted` and awaiting their workflows' reports (10 schedules, their
completion deadline a day away, their slots in the hour before the window). Ours only: what
another tenant's backlog costs this one (the claim and the wake-up ask each schedule whether it
has an unfinished run; docs/history-partitions.md, migration 0018).

Measured in each: the lag and missed slots of tenant `bench`, and the CPU per slot (workers,
PostgreSQL); the table gives the backlog's run over the idle one.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import psycopg

from bench.scenarios.common import Context, attempt, create_schedules
from bench.scenarios.steady import ours

NEIGHBOUR = "neighbour"
BACKLOG = """
INSERT INTO workflow_schedule_executions
    (trigger_id, workflow_id, tenant, scheduled_at, status, attempts, executed_at, started_at,
     accepted_at, completion_deadline)
SELECT s.id, s.workflow_id, s.tenant, t.now - (g * 3600.0 / %(per)s) * interval '1 second',
       'accepted', 1, t.now, t.now, t.now, t.now + interval '1 day'
FROM workflow_schedules s, (SELECT clock_timestamp() AS now) AS t,
     generate_series(1, %(per)s) AS g
WHERE s.tenant = %(tenant)s
"""


def run(ctx: Context) -> dict[str, Any]:
    n, seconds = ctx.sizes.steady_schedules, ctx.sizes.neighbour_seconds
    backlog = ctx.sizes.neighbour_backlog
    return {
        "idle": attempt(ours, ctx, n, seconds, "neighbour_idle", plot=False),
        "backlog": attempt(
            ours, ctx, n, seconds, "neighbour_backlog", plot=False,
            prepare=partial(accepted_backlog, runs=backlog),
        ),
        "backlog_runs": backlog,
    }  # fmt: skip


def accepted_backlog(url: str, runs: int, schedules: int = 10) -> None:
    """`runs` accepted runs of tenant `neighbour`'s `schedules` yearly schedules, analyzed, as
    autovacuum would have them after a while."""
    create_schedules(url, schedules, "0 0 1 1 *", workflow_id="slow", tenant=NEIGHBOUR)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BACKLOG, {"per": runs // schedules, "tenant": NEIGHBOUR})
        conn.execute("VACUUM ANALYZE workflow_schedule_executions")
