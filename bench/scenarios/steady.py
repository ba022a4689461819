"""Steady: N schedules firing every second for D seconds; ours, then each peer in its own phase
(BullMQ, DBOS, Procrastinate periodic, APScheduler 1 and 2 processes; pg-boss: n/a, its cron is
minute-granular).

Lag = receive time at the target − the slot's instant. Missed = slots of the window the target
never received (late ones are waited for, up to `drain_seconds` after the window). Duplicates =
requests for a slot already received (same Idempotency-Key).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench.scenarios.common import (
    Context,
    attempt,
    create_schedules,
    engine_breakdown,
    measure_steady,
)
from bench.scenarios.peers import EVERY_SECOND, bullmq_steady, dbos_steady
from bench.service import Child, python, service_env, start_workers, wait_for_workers

WORKERS = 2


def run(ctx: Context) -> dict[str, Any]:
    n, seconds = ctx.sizes.steady_schedules, ctx.sizes.steady_seconds
    results = {"ours": attempt(ours, ctx, n, seconds)}
    if ctx.peers:
        results["bullmq"] = attempt(bullmq_steady, ctx, n, seconds)
        results["dbos"] = attempt(dbos_steady, ctx, n, seconds)
        two = ctx.sizes.aps_two_process_seconds
        results["procrastinate"] = attempt(procrastinate_periodic, ctx, n, seconds)
        results["apscheduler"] = attempt(apscheduler, ctx, n, seconds, processes=1)
        results["apscheduler_2proc"] = attempt(apscheduler, ctx, n, two, processes=2)
    return results


def ours(
    ctx: Context,
    n: int,
    seconds: int,
    phase: str = "steady",
    *,
    plot: bool = True,
    prepare: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """`prepare`: called with the database's URL once the schedules exist, before the workers
    start (what else the database holds during the window)."""
    name = f"ours_{phase}"
    url = ctx.cluster.migrated_database(name)
    try:
        create_schedules(url, n, EVERY_SECOND, workflow_id="wf")
        if prepare is not None:
            prepare(url)
        env = service_env(url, f"{ctx.target_url}/ours/{phase}/{{workflowId}}")
        workers = start_workers(ctx.procs, WORKERS, env)
        try:
            ctx.cluster.reset_statements()
            result = measure_steady(ctx, f"/ours/{phase}", workers, n, seconds, plot=plot)
        finally:
            ctx.procs.stop(workers)
        result["statements"] = ctx.cluster.top_statements(name, per=n * seconds)
        result["engine_breakdown"] = engine_breakdown(url, result["window"])
        result["skipped_runs"] = result["engine_breakdown"].get("skipped", {}).get("runs", 0)
        return result
    finally:
        ctx.cluster.drop_database(name)


def procrastinate_periodic(ctx: Context, n: int, seconds: int) -> dict[str, Any]:
    url = ctx.cluster.empty_database("peer_procrastinate")
    app = "--app=bench.peers.procrastinate_periodic.app"
    env = {
        **os.environ,
        "BENCH_PEER_DATABASE_URL": url,
        "BENCH_PEER_SCHEDULES": str(n),
        "BENCH_PEER_TARGET": f"{ctx.target_url}/procrastinate/steady",
    }
    subprocess.run(
        python("-m", "procrastinate", app, "schema", "--apply"),
        env=env,
        check=True,
        capture_output=True,
    )
    # Same worker shape as ours: 2 processes, concurrency 10, finished jobs deleted.
    argv = python(
        "-m", "procrastinate", app, "worker", "--concurrency=10", "--delete-jobs=successful"
    )
    workers = [ctx.procs.start(f"procrastinate-{i}", argv, env) for i in range(WORKERS)]
    try:
        wait_for_workers(ctx.procs, workers, url)
        result = measure_steady(ctx, "/procrastinate/steady", workers, n, seconds)
        result["settings"] = "2 worker processes, concurrency 10, delete_jobs=successful"
        return result
    finally:
        ctx.procs.stop(workers)


def start_apscheduler(
    ctx: Context, url: str, target: str, jobs: int, when: list[str], name: str, *extra: str
) -> list[Child]:
    """Start one APScheduler process; returns once it printed `ready` (its jobs are stored)."""
    argv = python(
        "-m", "bench.peers.apscheduler_peer", "--database", url, "--target", target,
        "--jobs", str(jobs), *when, *extra,
    )  # fmt: skip
    child = ctx.procs.start(name, argv, dict(os.environ), stdout_pipe=True)
    assert child.process.stdout is not None
    line = child.process.stdout.readline()
    if line.strip() != b"ready":
        ctx.procs.check_alive([child])
        raise RuntimeError(f"{name} did not start: {line!r}")
    return [child]


def apscheduler(ctx: Context, n: int, seconds: int, *, processes: int) -> dict[str, Any]:
    db = f"peer_apscheduler_{processes}"
    url = ctx.cluster.empty_database(db)
    prefix = f"/apscheduler{processes}/steady"
    target = f"{ctx.target_url}{prefix}"
    children: list[Child] = []
    try:
        started = time.monotonic()
        children += start_apscheduler(ctx, url, target, n, ["--every-second"], f"aps{processes}-0")
        setup_s = time.monotonic() - started
        for i in range(1, processes):
            children += start_apscheduler(
                ctx, url, target, n, ["--every-second"], f"aps{processes}-{i}", "--no-add"
            )
        result = measure_steady(ctx, prefix, children, n, seconds)
        result["settings"] = (
            f"{processes} process(es) sharing one SQLAlchemyJobStore, AsyncIOScheduler, "
            "APScheduler defaults (coalesce, max_instances=1, misfire_grace_time=1 s)"
        )
        result["add_jobs_s"] = setup_s
        return result
    finally:
        ctx.procs.stop(children)
        ctx.cluster.drop_database(db)
