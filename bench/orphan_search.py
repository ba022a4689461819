"""What the recovery pass's orphan search costs beside one tenant's long in-flight runs
(docs/reliability.md, "One tenant's long in-flight runs"; docs/benchmarks.md, tenth stop).

    .venv/bin/python -m bench.orphan_search [--runs 200000] [--hours 1] [--passes 5]

Starts a throwaway cluster (fsync on, PostgreSQL's default memory settings) and one database
at head holding `runs` runs of one tenant in flight for long: `retrying`, made evenly over the
last `hours`, their next attempt an hour away, their batch jobs waiting (`todo`, 100 runs a
job). Then it times, on one connection:
- `before`: the search as it was until 2026-12-06 (every in-flight run older than the minimum
  age, joined to its job), `passes` times;
- `after`: the engine's search (`execution_find_orphans`) driven by a worker's cursor
  (`OrphanCursor`) from the oldest until a cycle ends, passes 5 s apart on the clock the
  statement is given (`now`), as the recovery loop runs them.
Reported: per pass, the wall time and the in-flight runs read; for `after`, the passes a cycle
took. Neither finds an orphan (every run has its job): this is what a pass costs everyone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from app.services.attempts import ORPHAN_PAGE, OrphanCursor
from db.migrate import upgrade
from db.repositories import executions as repo
from devtools.localpg import LocalCluster
from devtools.loopback import free_port

MIN_AGE = 5.0
PASS_EVERY = timedelta(seconds=5)
SCHEDULE = "00000000-0000-4000-8000-000000000001"
FILL = """
WITH jobs AS (
    INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at)
    SELECT 'runs', 'run_batch', '{}'::jsonb, 'todo', %(t)s::timestamptz + interval '1 day'
    FROM generate_series(1, %(runs)s / 100 + 1)
    RETURNING id
), numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM jobs)
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, status, attempts, next_attempt_at,
    created_at, job_id)
SELECT %(schedule)s, 'wf', 'globex', %(t)s::timestamptz - g * interval '1 ms', 'retrying', 1,
       %(t)s::timestamptz + interval '1 hour',
       %(t)s::timestamptz - make_interval(secs => %(seconds)s * (1 - g::float8 / %(runs)s)),
       numbered.id
FROM generate_series(1, %(runs)s) AS g JOIN numbered ON numbered.n = g / 100 + 1
"""
# The search until 2026-12-06 (db/queries/executions.sql at 6426005), for the comparison.
BEFORE = """
SELECT e.id, e.next_attempt_at
FROM workflow_schedule_executions e
LEFT JOIN procrastinate_jobs j ON j.id = e.job_id
WHERE e.status IN ('pending', 'running', 'retrying')
  AND NOT e.buffered
  AND e.created_at < (SELECT coalesce(%(now)s::timestamptz, clock_timestamp())
                              - make_interval(secs => %(min_age_seconds)s))
  AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing'))
ORDER BY e.created_at
LIMIT %(limit)s
FOR UPDATE OF e SKIP LOCKED
"""
IN_FLIGHT_BEFORE = """
SELECT count(*) AS n FROM workflow_schedule_executions
WHERE status IN ('pending', 'running', 'retrying') AND NOT buffered
  AND created_at < %(now)s::timestamptz - make_interval(secs => %(min_age_seconds)s)
"""


def _fill(url: str, runs: int, hours: float, now: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression,"
            " next_run_at, next_fire_at) VALUES (%s, 'globex', 'wf', '0 0 1 1 *', %s, %s)",
            (SCHEDULE, now, now),
        )
        params = {"t": now, "runs": runs, "seconds": hours * 3600, "schedule": SCHEDULE}
        db.execute(FILL, params)
        db.execute("VACUUM ANALYZE")


def _before(url: str, now: datetime, passes: int) -> tuple[list[float], int]:
    params = {"now": now, "min_age_seconds": MIN_AGE, "limit": 1_000}
    times = []
    with psycopg.connect(url, row_factory=dict_row) as db:
        db.execute("SET jit = off")
        for _ in range(passes):
            started = time.perf_counter()
            with db.transaction():
                db.execute(BEFORE, params).fetchall()
            times.append(time.perf_counter() - started)
        row = db.execute(IN_FLIGHT_BEFORE, params).fetchone()
        assert row is not None
    return times, int(row["n"])


async def _after(url: str, now: datetime) -> list[tuple[float, int, float]]:
    """One cycle of a worker's cursor: (seconds, runs read, the window's span) per pass."""
    cursor = OrphanCursor()
    passes = []
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as db:
        await db.execute("SET jit = off")
        while True:
            span = cursor.span_seconds
            started = time.perf_counter()
            async with db.transaction():
                page = await repo.find_orphans(
                    db,
                    min_age_seconds=MIN_AGE,
                    after=cursor.after,
                    span_seconds=span,
                    limit=ORPHAN_PAGE,
                    now=now,
                )
            passes.append((time.perf_counter() - started, page.read, span))
            cursor.moved(page, ORPHAN_PAGE)
            now += PASS_EVERY
            if page.last is None and len(passes) > 1:
                return passes


def main(argv: list[str] | None = None) -> int:
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-orphans-") as base:
        Path(base).chmod(0o755)
        cluster = LocalCluster(Path(base) / "pg", free_port())
        cluster.start()
        try:
            url = cluster.create_database("orphans")
            upgrade(url)
            _fill(url, args.runs, args.hours, now)
            before, in_flight = _before(url, now, args.passes)
            after = asyncio.run(_after(url, now))
        finally:
            cluster.destroy()
    print(f"{in_flight:,} runs of one tenant in flight for long, made over {args.hours} h")
    print(
        f"before: every pass read them all: {statistics.median(before) * 1000:.1f} ms a pass"
        f" (median of {len(before)}; min {min(before) * 1000:.1f}, max {max(before) * 1000:.1f})"
    )
    times = [t for t, _, _ in after]
    reads = [r for _, r, _ in after]
    print(
        f"after: a cycle of {len(after)} passes (5 s apart) read {sum(reads):,} runs;"
        f" per pass median {statistics.median(times) * 1000:.1f} ms, max"
        f" {max(times) * 1000:.1f} ms; runs read per pass median {statistics.median(reads):,.0f},"
        f" max {max(reads):,}"
    )
    for number, (seconds, read, span) in enumerate(after[:8], 1):
        print(f"  pass {number}: window {span:,.1f} s, read {read:,}, {seconds * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
