"""What every scenario shares: the run's context, reading the target's log, lag statistics."""

from __future__ import annotations

import asyncio
import math
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.rows import dict_row

from app.services.batch import MAX_BATCH, Draft, upsert_batch
from app.services.schedules import ScheduleService
from bench.cluster import BenchCluster
from bench.service import Child, Processes, RssMonitor, cpu_seconds


@dataclass(frozen=True)
class Sizes:
    steady_schedules: int
    steady_seconds: int
    aps_two_process_seconds: int
    burst_sizes: tuple[int, ...]  # burst: one instant of each size, ours and every peer
    scale_stored: tuple[int, ...]  # scale: stored schedules of each run after the small one
    scale_small: int
    scale_due: int
    scale_seconds: int
    api_rate: int
    api_seconds: int
    stats_rows: int
    drain_seconds: int
    batch_schedules: int = 100_000  # api-batch: created through POST /api/schedules/batch
    batch_clients: int = 2  # ... by this many clients at once (2 cores here)
    ramp_steps: tuple[int, ...] = (1_000, 2_000, 5_000)  # ramp: every-second schedules a step
    ramp_seconds: int = 120  # ... measured for this long each (issue 13: 5,000/s for 120 s)
    limits_seconds: int = 10  # limits: each loop runs this long
    claim_rows: int = 500_000  # ... rows of the synthetic table the bare claim empties
    catchup_schedules: int = 1_000  # catchup: every-second schedules back from an outage
    catchup_outage_s: int = 1_200  # ... of this many seconds (1,000 missed rows each, capped)
    neighbour_backlog: int = 200_000  # neighbour: another tenant's accepted runs beside steady
    neighbour_seconds: int = 60  # ... each of the two steady windows (idle, then the backlog)


FULL = Sizes(1000, 300, 60, (10_000, 50_000, 100_000), (1_000_000, 10_000_000), 10_000, 1000,
             60, 200, 30, 1_000_000, 30)  # fmt: skip
QUICK = Sizes(
    200, 5, 3, (1_000, 5_000), (50_000,), 10_000, 200, 3, 200, 2, 50_000, 5,
    batch_schedules=10_000, ramp_steps=(200, 500), ramp_seconds=5, limits_seconds=2,
    claim_rows=20_000, catchup_schedules=100, catchup_outage_s=120,
    neighbour_backlog=20_000, neighbour_seconds=5,
)  # fmt: skip


@dataclass(frozen=True)
class Hit:
    received: float  # unix seconds, at the target
    scheduled: float  # the slot's instant, unix seconds
    key: str  # Idempotency-Key


CDF_POINTS = (1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9)


@lru_cache(maxsize=65_536)
def parse_instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class TargetLog:
    """Reads the target's log incrementally; hits are grouped by the path's first two parts
    (`/ours/steady`), which name the system and the phase."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.hits: dict[str, list[Hit]] = defaultdict(list)

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode().splitlines():
            received, path, scheduled, key = line.split("\t")
            prefix = "/".join(path.split("/")[:3])
            if prefix == "/capacity/x" or not scheduled:
                continue
            self.hits[prefix].append(Hit(float(received), parse_instant(scheduled), key))

    def of(self, prefix: str) -> list[Hit]:
        self.read()
        return self.hits[prefix]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def lag_summary(lags_s: Iterable[float]) -> dict[str, Any]:
    """Percentiles in milliseconds."""
    values = sorted(v * 1000 for v in lags_s)
    return {
        "count": len(values),
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else math.nan,
        "percentiles_ms": {str(q): percentile(values, q) for q in CDF_POINTS},
    }


@dataclass
class Context:
    """One harness run: the cluster, the children, the target, the sizes and the results."""

    cluster: BenchCluster
    procs: Processes
    target_url: str
    target_log: TargetLog
    sizes: Sizes
    quick: bool
    peers: bool = True
    results: dict[str, Any] = field(default_factory=dict)
    # steady lags (s) of each system and the number of slots expected, for the plot
    lag_samples: dict[str, tuple[list[float], int]] = field(default_factory=dict)


def attempt(phase: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one phase; a failure becomes {"error": ...} so the other phases still run."""
    try:
        return phase(*args, **kwargs)
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def lead_margin(ctx: Context) -> float:
    """Seconds of slack between the expected end of a burst's set-up and its instant."""
    return 2.0 if ctx.quick else 5.0


def cron_for(instant: float) -> str:
    """The 6-field cron (seconds first) naming one second: `S M H D Mo *`."""
    at = datetime.fromtimestamp(instant, UTC)
    return f"{at.second} {at.minute} {at.hour} {at.day} {at.month} *"


def sleep_until(instant: float) -> None:
    delay = instant - time.time()
    if delay > 0:
        time.sleep(delay)


# -- creating our schedules ---------------------------------------------------------------
async def _create(url: str, tenant: str, batches: list[list[Draft]]) -> list[UUID]:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        service = ScheduleService(conn, tenant)
        ids: list[UUID] = []
        for drafts in batches:
            for item in await upsert_batch(service, drafts):
                if item.outcome != "created" or item.id is None:
                    raise RuntimeError(f"batch item {item.index}: {item.outcome} {item.error}")
                ids.append(item.id)
        return ids


async def _create_parallel(
    url: str, tenant: str, fields: list[dict[str, Any]], connections: int
) -> list[UUID]:
    drafts = [Draft(i, f) for i, f in enumerate(fields)]
    batches = [drafts[i : i + MAX_BATCH] for i in range(0, len(drafts), MAX_BATCH)]
    shares = [batches[i::connections] for i in range(connections)]
    done = await asyncio.gather(*(_create(url, tenant, share) for share in shares if share))
    return [i for ids in done for i in ids]


def create_schedules(
    url: str,
    count: int,
    cron: str,
    *,
    workflow_id: str = "wf",
    tenant: str = "bench",
    connections: int = 2,
    **extra: Any,
) -> list[UUID]:
    """`count` schedules through the service layer's batch create (`upsert_batch`, what
    `POST /api/schedules/batch` runs: validation and next slot per schedule, one transaction
    and one INSERT per 1,000), from a few connections at once: 100,000 in seconds."""
    fields = [
        {"id": uuid4(), "workflow_id": workflow_id, "cron_expression": cron, **extra}
        for _ in range(count)
    ]
    return asyncio.run(_create_parallel(url, tenant, fields, connections))


# -- the steady measurement, shared by ours and the peers ----------------------------------
def measure_steady(
    ctx: Context,
    prefix: str,
    children: list[Child],
    schedules: int,
    seconds: int,
    *,
    warmup: float = 3.0,
    store_cpu: Callable[[], float] | None = None,
    plot: bool = True,
) -> dict[str, Any]:
    """Every slot of `schedules` every-second schedules in a window of `seconds` seconds, starting
    `warmup` seconds from now on a whole second: lag of the first request per slot, slots never
    received (waiting up to `drain_seconds` after the window for late ones), repeated slots, and
    the CPU the system's processes and its store spent in the window (`store_cpu`: CPU seconds
    so far of the store; PostgreSQL's by default, Redis's for BullMQ). `plot`: the lags go into
    the steady plot."""
    store_cpu = store_cpu or ctx.cluster.cpu_seconds
    start = math.ceil(time.time() + warmup)
    end = start + seconds
    sleep_until(start)
    cpu_start, pg_start = cpu_seconds(children), store_cpu()
    with RssMonitor(children) as rss:
        while time.time() < end:
            time.sleep(min(1.0, max(0.0, end - time.time())))
            ctx.procs.check_alive(children)
    cpu = cpu_seconds(children) - cpu_start
    pg_cpu = store_cpu() - pg_start
    expected = schedules * seconds
    deadline = time.time() + ctx.sizes.drain_seconds
    while True:
        first: dict[str, Hit] = {}
        repeats = 0
        for hit in ctx.target_log.of(prefix):
            if start <= hit.scheduled < end:
                if hit.key in first:
                    repeats += 1
                else:
                    first[hit.key] = hit
        if len(first) >= expected or time.time() >= deadline:
            break
        time.sleep(1.0)
    lags = [h.received - h.scheduled for h in first.values()]
    if plot:
        ctx.lag_samples[prefix] = (lags, expected)
    fired = len(first)
    return {
        "schedules": schedules,
        "seconds": seconds,
        "window": [start, end],
        "expected_slots": expected,
        "received_slots": fired,
        "missed_slots": expected - fired,
        "missed_pct": 100 * (expected - fired) / expected,
        "duplicate_requests": repeats,
        "lag": lag_summary(lags),
        "cpu_s": cpu,
        "cpu_ms_per_slot": 1000 * cpu / fired if fired else math.nan,
        "postgres_cpu_s": pg_cpu,
        "postgres_cpu_ms_per_slot": 1000 * pg_cpu / fired if fired else math.nan,
        "max_rss_mb": rss.max_mb,
        "processes": len(children),
        "drain_s": ctx.sizes.drain_seconds,
    }


def measure_burst(
    ctx: Context, prefix: str, instant: float, count: int, *, timeout: float, quiet: float = 10.0
) -> dict[str, Any]:
    """Requests for slot `instant`: when the last one arrived (from the instant), their lags, and
    how many never came: waits until all came, or nothing new came for `quiet` seconds, or
    `timeout` seconds after the instant."""
    sleep_until(instant)
    deadline = instant + timeout
    seen, last_change = 0, time.time()
    while True:
        hits = [h for h in ctx.target_log.of(prefix) if abs(h.scheduled - instant) < 1e-3]
        if len(hits) != seen:
            seen, last_change = len(hits), time.time()
        keys = {h.key for h in hits}
        now = time.time()
        if len(keys) >= count or now >= deadline or now - last_change >= quiet:
            break
        time.sleep(0.5)
    first: dict[str, Hit] = {}
    for hit in hits:
        if hit.key not in first or hit.received < first[hit.key].received:
            first[hit.key] = hit
    lags = [h.received - instant for h in first.values()]
    return {
        "schedules": count,
        "received": len(first),
        "missing": count - len(first),
        "duplicate_requests": len(hits) - len(first),
        "all_sent_s": max(lags) if len(first) == count else math.nan,
        "last_received_s": max(lags) if lags else math.nan,
        "lag": lag_summary(lags),
    }


BREAKDOWN = """
SELECT status, count(*) AS runs,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM created_at - fire_at)) AS claim,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM started_at - created_at)) AS pickup,
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM finished_at - started_at)) AS attempt
FROM workflow_schedule_executions
WHERE scheduled_at >= to_timestamp(%(start)s) AND scheduled_at < to_timestamp(%(end)s)
GROUP BY status
"""


def engine_breakdown(url: str, window: list[float]) -> dict[str, Any]:
    """Where our lag goes, from the execution rows of the window, per status (ms, p50/p99):
    claim = the dispatch transaction's start − fire instant; pickup = attempt start − claim;
    attempt = attempt end − attempt start (the HTTP call, and the batch around it)."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(BREAKDOWN, {"start": window[0], "end": window[1]}).fetchall()

    def ms(values: list[float] | None) -> list[float] | None:
        return None if values is None else [round(v * 1000, 1) for v in values]

    return {
        row["status"]: {
            "runs": row["runs"],
            "claim_ms": ms(row["claim"]),
            "pickup_ms": ms(row["pickup"]),
            "attempt_ms": ms(row["attempt"]),
        }
        for row in rows
    }
