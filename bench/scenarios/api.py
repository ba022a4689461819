"""API: latency of get, create and a list page at a fixed request rate (open loop).

`scheduler api` runs in its own process (no workers: the API alone is measured), with a token
from `scheduler token create`. A tenant holds 1,000 schedules (service layer) and gains the
created ones. Each endpoint gets `api_rate` requests/s for `api_seconds` seconds: request i starts
at t0 + i/rate whether or not earlier ones have answered, and its latency is counted from that
intended start (so a stalled server cannot hide its queueing), from an aiohttp client in the
harness process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any
from uuid import UUID

import aiohttp

from bench.scenarios.common import Context, create_schedules, lag_summary
from bench.service import service_env, start_api
from devtools.loopback import free_port
from devtools.tokens import make_token

STORED = 1000
FAR_CRON = "0 0 1 1 *"  # once a year: nothing fires while we measure

Request = Callable[[int], tuple[str, str, dict[str, Any] | None]]


async def open_loop(
    base: str, token: str, make: Request, rate: int, seconds: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    count = int(rate * seconds)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    async with aiohttp.ClientSession(
        base, headers=headers, connector=aiohttp.TCPConnector(limit=200)
    ) as session:
        for i in range(20):  # warm the connections and the server's caches
            method, path, body = make(i)
            async with session.request(method, path, json=body) as answer:
                await answer.read()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        finished = start

        async def one(i: int) -> None:
            nonlocal finished
            intended = start + i / rate
            await asyncio.sleep(max(0.0, intended - loop.time()))
            method, path, body = make(i)
            try:
                async with session.request(method, path, json=body) as answer:
                    await answer.read()
                    if answer.status >= 400:
                        errors[str(answer.status)] = errors.get(str(answer.status), 0) + 1
            except (aiohttp.ClientError, OSError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            done = loop.time()
            finished = max(finished, done)
            latencies.append(done - intended)

        await asyncio.gather(*(one(i) for i in range(count)))
    summary = lag_summary(latencies)
    return {
        **summary,
        "requests": count,
        "achieved_rate": count / (finished - start),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


def run(ctx: Context) -> dict[str, Any]:
    url = ctx.cluster.migrated_database("ours_api")
    env = service_env(url, f"{ctx.target_url}/ours/api/{{workflowId}}")
    port = free_port()
    api = start_api(ctx.procs, env, port)
    try:
        token = make_token(url, "bench", "bench")
        ids: list[UUID] = create_schedules(url, STORED, FAR_CRON, workflow_id="api")
        rng = random.Random(5)
        requests: dict[str, Request] = {
            "GET /api/schedules/{id}": lambda i: (
                "GET",
                f"/api/schedules/{rng.choice(ids)}",
                None,
            ),
            "POST /api/schedules": lambda i: (
                "POST",
                "/api/schedules",
                {"workflowId": f"api-{i}", "cronExpression": FAR_CRON, "timezone": "UTC"},
            ),
            "GET /api/schedules?limit=50": lambda i: ("GET", "/api/schedules?limit=50", None),
        }
        rate, seconds = ctx.sizes.api_rate, ctx.sizes.api_seconds
        endpoints = {
            name: asyncio.run(open_loop(f"http://127.0.0.1:{port}", token, make, rate, seconds))
            for name, make in requests.items()
        }
        return {"rate": rate, "seconds": seconds, "schedules": STORED, "endpoints": endpoints}
    finally:
        ctx.procs.stop([api])
        ctx.cluster.drop_database("ours_api")
