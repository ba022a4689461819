"""Peer: APScheduler 3 (AsyncIOScheduler) with its SQLAlchemyJobStore on PostgreSQL.

    python -m bench.peers.apscheduler_peer --database URL --target URL --jobs N
        (--every-second | --at UNIX_SECONDS) [--misfire-grace S] [--no-add]

What a Python user would pick instead of us: N jobs in the store, either every second
(`CronTrigger(second="*")`) or all at one instant (`DateTrigger`), each POSTing to the target.
APScheduler's defaults are kept (coalesce, max_instances=1, misfire_grace_time=1 s) unless
`--misfire-grace` says otherwise. `--no-add` starts a second scheduler on a store another process
filled (two processes sharing one store). Prints `ready` once its scheduler runs; SIGTERM stops.

APScheduler does not hand the scheduled time to the job, so a 10-line executor passes each run's
`run_time` in (APScheduler's own run loop, misfire check included, is unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import aiohttp
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import run_coroutine_job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

_session: aiohttp.ClientSession | None = None


async def fire(job_id: str, target: str, run_time: datetime | None = None) -> None:
    """The job: POST to the target with the slot's instant and a per-slot idempotency key
    (`run_time` comes from RunTimeExecutor)."""
    assert run_time is not None
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    instant = run_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    headers = {"X-Scheduler-Scheduled-At": instant, "Idempotency-Key": f"{job_id}:{instant}"}
    async with _session.post(target, json={"jobId": job_id}, headers=headers) as answer:
        await answer.read()


class _WithRunTime:
    """A job whose kwargs also carry one scheduled run time."""

    def __init__(self, job: Any, run_time: datetime) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "run_time": run_time}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)


class RunTimeExecutor(AsyncIOExecutor):
    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        async def run() -> list[Any]:
            events: list[Any] = []
            for run_time in run_times:
                events += await run_coroutine_job(
                    _WithRunTime(job, run_time), job._jobstore_alias, [run_time], self._logger.name
                )
            return events

        def done(task: asyncio.Task[list[Any]]) -> None:
            self._pending_futures.discard(task)
            try:
                events = task.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        task = self._eventloop.create_task(run())
        task.add_done_callback(done)
        self._pending_futures.add(task)


async def main(args: argparse.Namespace) -> None:
    url = args.database.replace("postgresql://", "postgresql+psycopg://", 1)
    job_defaults: dict[str, Any] = {}
    if args.misfire_grace is not None:
        job_defaults["misfire_grace_time"] = args.misfire_grace
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)},
        executors={"default": RunTimeExecutor()},
        job_defaults=job_defaults,
        timezone=UTC,
    )
    scheduler.start(paused=True)
    if not args.no_add:
        if args.every_second:
            trigger: Any = CronTrigger(second="*", timezone=UTC)
        else:
            trigger = DateTrigger(run_date=datetime.fromtimestamp(args.at, UTC))
        for i in range(args.jobs):
            job_id = f"job{i}"
            scheduler.add_job(
                f"{__spec__.name}:fire",  # by reference: the store keeps the job pickled
                trigger,
                id=job_id,
                kwargs={"job_id": job_id, "target": args.target},
                replace_existing=True,
            )
    scheduler.resume()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    scheduler.shutdown(wait=False)
    if _session is not None:
        await _session.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--jobs", type=int, required=True)
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--every-second", action="store_true")
    when.add_argument("--at", type=float)
    parser.add_argument("--misfire-grace", type=float)
    parser.add_argument("--no-add", action="store_true")
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parser.parse_args()))
