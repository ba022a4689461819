"""Peer: Procrastinate's own periodic tasks, the naive way to schedule on Procrastinate.

    BENCH_PEER_DATABASE_URL=... BENCH_PEER_SCHEDULES=N BENCH_PEER_TARGET=http://... \\
        procrastinate --app=bench.peers.procrastinate_periodic.app worker

N periodic registrations of one task, `cron="* * * * * *"` (every second), each with its own
`periodic_id`; every worker process runs Procrastinate's periodic deferrer (the database keeps two
deferrers from deferring the same tick twice) and executes the jobs, each of which POSTs to the
target with its tick. Static: registered at import, like any Procrastinate periodic task.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import aiohttp
from procrastinate import App, PsycopgConnector

_session: aiohttp.ClientSession | None = None

app = App(
    connector=PsycopgConnector(
        conninfo=os.environ.get("BENCH_PEER_DATABASE_URL", ""), min_size=1, max_size=16
    )
)


@app.task(name="bench_tick")
async def tick(timestamp: int, schedule: int) -> None:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    instant = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    headers = {
        "X-Scheduler-Scheduled-At": instant,
        "Idempotency-Key": f"p{schedule}:{instant}",
    }
    async with _session.post(
        os.environ["BENCH_PEER_TARGET"], json={"schedule": schedule}, headers=headers
    ) as answer:
        await answer.read()


for _i in range(int(os.environ.get("BENCH_PEER_SCHEDULES", "0"))):
    app.periodic(cron="* * * * * *", periodic_id=f"p{_i}", task_kwargs={"schedule": _i})(tick)
