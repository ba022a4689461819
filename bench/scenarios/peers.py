"""The peers' phases that more than one scenario runs: BullMQ, DBOS and pg-boss, steady (every
second) and burst (all due at one instant), each measured the same way as ours
(`measure_steady`, `measure_burst`) against the same target, a path per system and phase."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from bench.peers import bullmq_peer, pgboss_peer
from bench.scenarios.common import Context, cron_for, lead_margin, measure_burst, measure_steady
from bench.service import Child, RssMonitor, cpu_seconds, python

EVERY_SECOND = "* * * * * *"
BULLMQ_UPSERTS_PER_S = 2_000  # pessimistic (~5,000/s measured): the instant follows the set-up
NODE_START_S = 3.0  # a Node process's start, under load, before its set-up begins
DBOS_PROCESSES = 2  # as ours: one per core; DBOS deduplicates a slot two processes fire
DBOS_POLL_S = 0.1  # the queue's polling interval (DBOS's internal queue: 1 s)


# -- BullMQ -----------------------------------------------------------------------------------
def bullmq_steady(
    ctx: Context, n: int, seconds: int, phase: str = "steady", *, plot: bool = True
) -> dict[str, Any]:
    bullmq_peer.node_modules()
    prefix = f"/bullmq/{phase}"
    redis = bullmq_peer.start_redis(ctx.procs)
    workers: list[Child] = []
    try:
        setup_s = bullmq_peer.setup(redis, n, EVERY_SECOND)
        workers = bullmq_peer.start_workers(ctx.procs, redis, f"{ctx.target_url}{prefix}")
        result = measure_steady(
            ctx, prefix, workers, n, seconds, store_cpu=redis.cpu_seconds, plot=plot
        )
        return {
            **result,
            "store": "redis",
            "setup_s": setup_s,
            "settings": bullmq_peer.settings(),
        }
    finally:
        ctx.procs.stop(workers)
        bullmq_peer.stop_redis(ctx.procs, redis)


def bullmq_burst(ctx: Context, n: int) -> dict[str, Any]:
    bullmq_peer.node_modules()
    prefix = f"/bullmq/burst{n}"
    redis = bullmq_peer.start_redis(ctx.procs)
    workers: list[Child] = []
    try:
        workers = bullmq_peer.start_workers(ctx.procs, redis, f"{ctx.target_url}{prefix}")
        instant = math.ceil(
            time.time() + n / BULLMQ_UPSERTS_PER_S + lead_margin(ctx) + NODE_START_S
        )
        result = burst_phase(
            ctx, "BullMQ", prefix, n, instant, workers, redis.cpu_seconds,
            lambda: bullmq_peer.setup(redis, n, cron_for(instant)),
        )  # fmt: skip
        return {**result, "store": "redis", "settings": bullmq_peer.settings()}
    finally:
        ctx.procs.stop(workers)
        bullmq_peer.stop_redis(ctx.procs, redis)


# -- DBOS -------------------------------------------------------------------------------------
def start_dbos(
    ctx: Context, url: str, target: str, n: int, *when: str
) -> tuple[list[Child], float, int]:
    """`DBOS_PROCESSES` DBOS processes on one system database; the first creates the schedules
    (`when`: `--cron C` or `--burst-in S`). Returns them, the seconds `apply_schedules` took and
    the burst's instant (0 for a cron)."""
    children: list[Child] = []
    setup_s, instant = math.nan, 0
    for i in range(DBOS_PROCESSES):
        argv = python(
            "-m", "bench.peers.dbos_peer", "--database", url, "--target", target,
            "--count", str(n), "--poll", str(DBOS_POLL_S), *when, *(["--no-add"] if i else []),
        )  # fmt: skip
        child = ctx.procs.start(f"dbos-{i}", argv, dict(os.environ), stdout_pipe=True)
        children.append(child)
        assert child.process.stdout is not None
        line = child.process.stdout.readline().decode()
        if not line.startswith("ready"):
            ctx.procs.check_alive([child])
            raise RuntimeError(f"dbos-{i} did not start: {line!r}")
        if i == 0:
            setup_s, instant = float(line.split()[1]), int(line.split()[2])
    return children, setup_s, instant


def dbos_steady(ctx: Context, n: int, seconds: int) -> dict[str, Any]:
    name = "peer_dbos_steady"
    url = ctx.cluster.empty_database(name)
    children: list[Child] = []
    try:
        children, setup_s, _ = start_dbos(
            ctx, url, f"{ctx.target_url}/dbos/steady", n, "--cron", EVERY_SECOND
        )
        # DBOS polls for new schedules every second during its first minute: let it see them.
        result = measure_steady(ctx, "/dbos/steady", children, n, seconds, warmup=5.0)
        return {**result, "setup_s": setup_s, "settings": dbos_settings()}
    finally:
        ctx.procs.stop(children)
        ctx.cluster.drop_database(name)


def dbos_burst(ctx: Context, n: int) -> dict[str, Any]:
    name = f"peer_dbos_burst_{n}"
    url = ctx.cluster.empty_database(name)
    prefix = f"/dbos/burst{n}"
    children: list[Child] = []
    try:
        # + 2 s: DBOS notices new schedules by polling once a second (its first minute); the
        # second process launches after the first is ready.
        lead = dbos_setup_s(n) + lead_margin(ctx) + 2 + 5
        started = time.time()
        children, setup_s, instant = start_dbos(
            ctx, url, f"{ctx.target_url}{prefix}", n, "--burst-in", str(lead)
        )
        start_and_setup_s = time.time() - started
        # The processes did the set-up: "ahead" is what they spend between it and the instant.
        result = burst_phase(
            ctx, "DBOS", prefix, n, instant, children, ctx.cluster.cpu_seconds, lambda: setup_s
        )
        return {**result, "start_and_setup_s": start_and_setup_s, "settings": dbos_settings()}
    finally:
        ctx.procs.stop(children)
        ctx.cluster.drop_database(name)


def dbos_setup_s(n: int) -> float:
    """A pessimistic guess of the seconds `DBOS.apply_schedules` takes for n schedules: it grows
    with the square of n (measured here: 1,000 in 1.8 s, 5,000 in 19 s; each schedule gets a
    thread, and the scheduler's poll compares every schedule every second while they are being
    written), which is why the burst runs DBOS up to 10,000 only (~4 min of set-up)."""
    return 2.5 * (n / 1000) ** 2 + 1


def dbos_settings() -> str:
    return (
        f"{DBOS_PROCESSES} processes, DBOS.apply_schedules (seconds cron), a queue polled every "
        f"{DBOS_POLL_S} s, one step per iteration POSTing (http.client, keep-alive per thread)"
    )


# -- pg-boss ----------------------------------------------------------------------------------
def pgboss_burst(ctx: Context, n: int) -> dict[str, Any]:
    name = f"peer_pgboss_burst_{n}"
    url = ctx.cluster.empty_database(name)
    prefix = f"/pgboss/burst{n}"
    children: list[Child] = []
    try:
        children = pgboss_peer.start_workers(ctx.procs, url, f"{ctx.target_url}{prefix}")
        instant = math.ceil(
            time.time() + n / pgboss_peer.SENDS_PER_S + lead_margin(ctx) + NODE_START_S
        )
        result = burst_phase(
            ctx, "pg-boss", prefix, n, instant, children, ctx.cluster.cpu_seconds,
            lambda: pgboss_peer.send(url, n, instant),
        )  # fmt: skip
        return {**result, "settings": pgboss_peer.settings()}
    finally:
        ctx.procs.stop(children)
        ctx.cluster.drop_database(name)


# -- shared -----------------------------------------------------------------------------------
def check_margin(system: str, n: int, instant: float) -> None:
    margin = instant - time.time()
    if margin < 1:
        raise RuntimeError(f"{system}: setting up {n:,} overran the burst instant ({margin:.1f} s)")


def burst_timeout(n: int) -> float:
    """Seconds after the instant a burst may take before the rest counts as never received."""
    return max(120.0, n / 500)


def burst_phase(
    ctx: Context,
    system: str,
    prefix: str,
    n: int,
    instant: float,
    children: list[Child],
    store_cpu: Callable[[], float],
    setup: Callable[[], float],
    after_setup: Callable[[], object] = lambda: None,
) -> dict[str, Any]:
    """One burst, the system's `children` already running: `setup` (it returns the seconds it
    took) makes `n` slots due at `instant`, then `measure_burst`. Adds the CPU of `children`
    between the start of the set-up and the instant (preparing the instant early), their CPU
    and the store's from the instant to the end, each per request received, and the largest
    RSS of one of them from before the set-up to the end. `after_setup` runs between the
    set-up and the measure (ours resets `pg_stat_statements` there)."""
    with RssMonitor(children) as rss:
        before = cpu_seconds(children)
        setup_s = setup()
        check_margin(system, n, instant)
        after_setup()
        cpu0, store0 = cpu_seconds(children), store_cpu()
        result = measure_burst(ctx, prefix, instant, n, timeout=burst_timeout(n))
        cpu, store = cpu_seconds(children) - cpu0, store_cpu() - store0
    received = result["received"]

    def per_request(seconds: float) -> float:
        return 1000 * seconds / received if received else math.nan

    return {
        **result,
        "setup_s": setup_s,
        "setup_per_s": n / setup_s if setup_s else math.nan,
        "cpu_ahead_s": cpu0 - before,
        "cpu_ahead_ms_per_slot": per_request(cpu0 - before),
        "cpu_s": cpu,
        "store_cpu_s": store,
        "cpu_ms_per_slot": per_request(cpu),
        "store_cpu_ms_per_slot": per_request(store),
        "max_rss_mb": rss.max_mb,
    }
