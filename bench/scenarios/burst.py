"""Burst: N schedules whose next slot is the same instant, for each N of `burst_sizes` (full:
10,000, 50,000, 100,000); when has the target received them all?

Ours: N schedules created through the service layer's batch create (1,000 a transaction) with one
6-field cron naming a single second (`S M H D Mo *`, seconds first), a little after the set-up
ends; 2 workers already running. BullMQ: N job schedulers with that cron (`upsertJobScheduler`),
2 Workers already running. pg-boss: N jobs sent with `startAfter` = the instant. DBOS (the
first size only, if ≤ 10,000: its set-up grows with the square of N, `peers.dbos_setup_s`): N
schedules with that cron (`DBOS.apply_schedules`). APScheduler (the same: it adds ~600 jobs a
second): N `DateTrigger` jobs at the instant, once with a generous misfire grace (3,600 s, so
none is dropped) and once with its default (1 s). Procrastinate's periodic tasks cannot express
arbitrary one-off schedules: n/a.

Measured per system (`peers.burst_phase`): time from the instant to the last request received,
requests never received, duplicates, lag percentiles, the set-up's time, CPU ahead of the
instant and from it to the end (system / store) per request, and the largest RSS of one of its
processes (from before the set-up to the end); for ours, the instant's runs by status.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from bench.scenarios.common import (
    Context,
    attempt,
    create_schedules,
    cron_for,
    engine_breakdown,
    lead_margin,
    measure_burst,
)
from bench.scenarios.peers import (
    bullmq_burst,
    burst_phase,
    burst_timeout,
    dbos_burst,
    pgboss_burst,
)
from bench.scenarios.steady import WORKERS, start_apscheduler
from bench.service import Child, service_env, start_workers

# Pessimistic (batch create): the instant must follow the set-up, and the dispatcher is
# already at work on the crowd meanwhile (its lead has no cap), which slows the creates.
OURS_CREATES_PER_S = 1_000
APS_ADDS_PER_S = 600
SMALL_ONLY = 10_000
"""DBOS and APScheduler burst at the first size only, if it is no larger than this: DBOS's set-up
grows with the square of N (`peers.dbos_setup_s`; 100,000 would take hours), APScheduler adds
~600 jobs a second."""


def run(ctx: Context) -> dict[str, Any]:
    sizes = list(ctx.sizes.burst_sizes)
    by_size: dict[str, dict[str, Any]] = {}
    for n in sizes:
        results = {"ours": attempt(ours, ctx, n)}
        if ctx.peers:
            results["bullmq"] = attempt(bullmq_burst, ctx, n)
            results["pgboss"] = attempt(pgboss_burst, ctx, n)
            if n == sizes[0] and n <= SMALL_ONLY:
                results["dbos"] = attempt(dbos_burst, ctx, n)
                results["apscheduler_grace"] = attempt(apscheduler, ctx, n, grace=3600)
                results["apscheduler_default"] = attempt(apscheduler, ctx, n, grace=None)
        by_size[str(n)] = results
    return {"sizes": sizes, "by_size": by_size}


def ours(ctx: Context, n: int) -> dict[str, Any]:
    name = f"ours_burst_{n}"
    url = ctx.cluster.migrated_database(name)
    prefix = f"/ours/burst{n}"
    env = service_env(url, f"{ctx.target_url}{prefix}/{{workflowId}}")
    workers = start_workers(ctx.procs, WORKERS, env)
    try:
        instant = math.ceil(time.time() + n / OURS_CREATES_PER_S + lead_margin(ctx))
        result = burst_phase(
            ctx, "ours", prefix, n, instant, workers, ctx.cluster.cpu_seconds,
            lambda: timed(lambda: create_schedules(url, n, cron_for(instant), workflow_id="burst")),
            after_setup=ctx.cluster.reset_statements,
        )  # fmt: skip
        result["statements"] = ctx.cluster.top_statements(name, per=n)
        # The runs of the instant by status: a slot claimed later than its misfire grace is
        # recorded `missed`, not sent (by design: docs/semantics.md).
        result["engine_breakdown"] = engine_breakdown(url, [instant, instant + 1])
        return result
    finally:
        ctx.procs.stop(workers)
        ctx.cluster.drop_database(name)


def timed(work: Callable[[], object]) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started


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
        result = measure_burst(ctx, prefix, instant, n, timeout=burst_timeout(n))
        result["add_jobs_s"] = ready - started
        result["ready_after_instant_s"] = max(0.0, ready - instant)
        result["misfire_grace_s"] = 1.0 if grace is None else grace
        return result
    finally:
        ctx.procs.stop(children)
        ctx.cluster.drop_database(name)
