"""API batch: create `batch_schedules` schedules through POST /api/schedules/batch.

`scheduler api` in its own process (no workers), one tenant with a quota above the count;
`batch_clients` clients in the harness process each send batches of 1,000 back to back until the
count is created. Measured: the wall time from the first request to the last answer, the
batch latency, and the rows the database holds afterwards (every one must be there).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import psycopg

from bench.scenarios.common import Context, lag_summary
from bench.service import service_env, start_api
from devtools.loopback import free_port
from devtools.tokens import make_token

BATCH = 1_000
CRONS = ["*/5 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5", "*/10 * * * * *"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def _item(n: int) -> dict[str, Any]:
    return {
        "workflowId": f"wf-{n % 5_000}",
        "cronExpression": CRONS[n % len(CRONS)],
        "timezone": ZONES[n % len(ZONES)],
        "input": {"n": n, "source": "bench"},
    }


async def _create_all(base: str, token: str, total: int, clients: int) -> dict[str, Any]:
    batches = [list(range(start, min(start + BATCH, total))) for start in range(0, total, BATCH)]
    latencies: list[float] = []
    failed: list[str] = []
    created = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal created
        while batches:
            numbers = batches.pop()
            began = time.perf_counter()
            async with session.post(
                "/api/schedules/batch", json={"items": [_item(n) for n in numbers]}
            ) as answer:
                body = await answer.json()
            latencies.append(time.perf_counter() - began)
            if answer.status != 200:
                failed.append(f"{answer.status}: {str(body)[:200]}")
                continue
            created += body["created"]

    async with aiohttp.ClientSession(
        base, headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(120)
    ) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "created": created,
        "per_second": created / seconds,
        "requests": len(latencies),
        "failed_requests": failed[:5],
        "batch_latency": lag_summary(latencies),
    }


def run(ctx: Context) -> dict[str, Any]:
    total, clients = ctx.sizes.batch_schedules, ctx.sizes.batch_clients
    url = ctx.cluster.migrated_database("ours_api_batch")
    env = service_env(
        url,
        f"{ctx.target_url}/ours/api_batch/{{workflowId}}",
        SCHEDULER_TENANT_MAX_SCHEDULES=str(total + 1_000),
    )
    port = free_port()
    api = start_api(ctx.procs, env, port)
    try:
        token = make_token(url, "bench", "bench")
        result = asyncio.run(_create_all(f"http://127.0.0.1:{port}", token, total, clients))
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM workflow_schedules").fetchone()
        stored = row[0] if row else 0
        return {"schedules": total, "batch": BATCH, "clients": clients, "stored": stored, **result}
    finally:
        ctx.procs.stop([api])
        ctx.cluster.drop_database("ours_api_batch")
