"""Burst: N schedules whose next slot is the same instant; when has the target received them all?

Ours: N schedules created through the service layer with one 6-field cron naming a single second
(`S M H D Mo *`, seconds first), a little after their creation ends; 2 workers already running.
APScheduler: N `DateTrigger` jobs at one instant, once with a generous misfire grace (3,600 s, so
none is dropped) and once with its default (1 s). Procrastinate's periodic tasks cannot express
arbitrary one-off schedules: n/a.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from bench.scenarios.common import Context, attempt, create_schedules, measure_burst
from bench.scenarios.steady import WORKERS, start_apscheduler
from bench.service import Child, RssMonitor, cpu_seconds, service_env, start_workers

OURS_CREATES_PER_S = 600  # pessimistic: the instant must come after the last create
# Above this size the schedules are created through the batch path (1,000 per transaction,
# ~10x faster): creating 100,000 one by one takes minutes, on a busy machine 10,000 too.
BATCHED_ABOVE = 5_000
OURS_BATCHED_CREATES_PER_S = 1_000  # pessimistic too: the dispatcher starts on the crowd meanwhile
APS_ADDS_PER_S = 600
TIMEOUT_S = 120.0


def run(ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.burst_schedules
    results = {"ours": attempt(ours, ctx, n)}
    if ctx.peers:
        results["apscheduler_grace"] = attempt(apscheduler, ctx, n, grace=3600)
        results["apscheduler_default"] = attempt(apscheduler, ctx, n, grace=None)
    return results


def lead_margin(ctx: Context) -> float:
    """Seconds of slack between the expected end of the set-up and the instant."""
    return 2.0 if ctx.quick else 5.0


def cron_for(instant: float) -> str:
    at = datetime.fromtimestamp(instant, UTC)
    return f"{at.second} {at.minute} {at.hour} {at.day} {at.month} *"


def ours(ctx: Context, n: int) -> dict[str, Any]:
    url = ctx.cluster.migrated_database("ours_burst")
    env = service_env(url, f"{ctx.target_url}/ours/burst/{{workflowId}}")
    workers = start_workers(ctx.procs, WORKERS, env)
    try:
        batched = n > BATCHED_ABOVE
        rate = OURS_BATCHED_CREATES_PER_S if batched else OURS_CREATES_PER_S
        instant = math.ceil(time.time() + n / rate + lead_margin(ctx))
        started = time.monotonic()
        cpu_start, pg_start = cpu_seconds(workers), ctx.cluster.cpu_seconds()
        with RssMonitor(workers) as rss:  # from the creates on: the runs prepared ahead count
            create_schedules(url, n, cron_for(instant), workflow_id="burst", batched=batched)
            create_s = time.monotonic() - started
            margin = instant - time.time()
            if margin < 1:
                raise RuntimeError(f"creating {n} schedules overran the instant ({margin:.1f} s)")
            result = measure_burst(ctx, "/ours/burst", instant, n, timeout=TIMEOUT_S)
        # Workers and PostgreSQL from the first create to the end (the creates included).
        result["worker_cpu_s"] = cpu_seconds(workers) - cpu_start
        result["postgres_cpu_s"] = ctx.cluster.cpu_seconds() - pg_start
        result["worker_max_rss_mb"] = rss.max_mb
        result["create_s"] = create_s
        result["creates_per_s"] = n / create_s
        return result
    finally:
        ctx.procs.stop(workers)


def apscheduler(ctx: Context, n: int, *, grace: float | None) -> dict[str, Any]:
    name = f"aps_burst_{'default' if grace is None else int(grace)}"
    url = ctx.cluster.empty_database(name)
    prefix = f"/{name.replace('_', '')}/burst"
    instant = math.ceil(time.time() + n / APS_ADDS_PER_S + lead_margin(ctx))
    extra = [] if grace is None else ["--misfire-grace", str(grace)]
    children: list[Child] = []
    try:
        started = time.time()
        children = start_apscheduler(
            ctx, url, f"{ctx.target_url}{prefix}", n, ["--at", str(instant)], name, *extra
        )
        ready = time.time()
        result = measure_burst(ctx, prefix, instant, n, timeout=TIMEOUT_S)
        result["add_jobs_s"] = ready - started
        result["ready_after_instant_s"] = max(0.0, ready - instant)
        result["misfire_grace_s"] = 1.0 if grace is None else grace
        return result
    finally:
        ctx.procs.stop(children)
        ctx.cluster.drop_database(name)
