"""Worker loop health in the database (issue 10 point 2, H2): what `scheduler check` and
/metrics see of each worker process's supervised loops.

Before: `scheduler check` only asked whether the database answered, so a worker whose
dispatcher had died stayed green for good.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from app.api.metrics_text import render
from app.cli import main as cli_main
from app.domain.loop_health import REPORT_LOOP, LoopReport, Seat, WorkerProcess
from app.services.health import loop_health, report_loops
from app.services.metrics import collect
from db.clock import db_now
from db.pool import create_pool
from db.repositories import executions as executions_repo
from db.repositories import health as health_repo
from db.types import Conn, Pool
from tests.support.db import advisory_lock_held, waits_for_an_advisory_lock
from worker.health import HealthReporter
from worker.service import Service, ServiceConfig


class Idle(Service[None]):
    async def run_once(self, now: datetime | None) -> None:
        return None


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    opened = create_pool(database_url, max_size=2)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _check(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *args: str,
) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    code = await asyncio.to_thread(cli_main, ["check", *args])
    return code, capsys.readouterr().out


def _reporter(
    pool: Pool,
    services: list[Service[None]],
    pid: int | None = None,
    fleet_lock_timeout: float = 5.0,
) -> HealthReporter:
    process = WorkerProcess(uuid.uuid4(), socket.gethostname(), pid or os.getpid())
    return HealthReporter(
        pool,
        lambda: services,
        period=1.0,
        stale_floor=60,
        process=process,
        fleet_lock_timeout=fleet_lock_timeout,
    )


async def test_check_names_the_worker_and_the_stale_loop(
    database_url: str,
    pool: Pool,
    conn: Conn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    healthy = Idle(ServiceConfig("healthy.loop", period=1, stale_floor=60))
    failing = Idle(ServiceConfig("failing.loop", period=0.01, stale_floor=0.01))
    healthy._succeeded(None)
    failing._failed(OSError("the database is away"))
    reporter = _reporter(pool, [healthy, failing])
    # Reported a second ago on the database clock: the CLI (which reads that clock) sees the
    # failing loop silent for over its 0.03 s bound, the healthy one well within its 60 s.
    await reporter.run_once(await db_now(conn) - timedelta(seconds=1))

    code, out = await _check(monkeypatch, capsys, database_url)
    assert code == 1, out
    assert f"worker {socket.gethostname()} pid {os.getpid()}: loop failing.loop" in out
    assert "1 failed passes in a row, last error OSError" in out
    assert "healthy.loop" not in out

    code, out = await _check(monkeypatch, capsys, database_url, "--host", "elsewhere")
    assert code == 1 and "no worker process on host elsewhere has reported" in out

    failing._succeeded(None)
    failing.config = ServiceConfig("failing.loop", period=1, stale_floor=60)  # stays fresh now
    await reporter.run_once(None)
    code, out = await _check(monkeypatch, capsys, database_url, "--host")
    assert code == 0, out
    assert "1 processes, 3 loops, 0 problems" in out

    metrics = render(await collect(conn))
    assert 'scheduler_loop_stale{host="' in metrics
    assert f'pid="{os.getpid()}",loop="failing.loop"}} 0' in metrics
    assert f'pid="{os.getpid()}",loop="{REPORT_LOOP}"}} 0' in metrics

    await reporter.forget()  # a clean stop takes its rows along
    code, out = await _check(monkeypatch, capsys, database_url)
    assert code == 0 and "0 processes" in out


async def test_a_silent_process_is_a_problem_until_it_is_known_gone(pool: Pool, conn: Conn) -> None:
    reporter = _reporter(pool, [])
    await reporter.run_once(None)
    later = await db_now(conn) + timedelta(seconds=61)  # the report loop's bound is 60 s
    health = await loop_health(conn, now=later)
    assert health.problems == [
        f"{reporter.process}: no report for 61 s (ended without notice, or hung)"
    ]
    health = await loop_health(conn, now=later, gone=lambda p: p == reporter.process)
    assert health.problems == []
    health = await loop_health(conn, host=reporter.process.host, now=later, gone=lambda _: True)
    assert health.problems == [
        f"no worker process on host {reporter.process.host} has reported its loops"
    ]


async def test_dead_processes_are_forgotten(pool: Pool, conn: Conn) -> None:
    """Rows of processes silent past the forget time, and of an earlier process with this
    host and pid once stale (a restarted container), go; a live process with the same host
    and pid stays (containers on the host's network): the lock-free starts count it."""
    now = await db_now(conn)
    killed = _reporter(pool, [])
    await killed.run_once(now - timedelta(seconds=601))
    restarted_container = _reporter(pool, [], pid=4242)
    await restarted_container.run_once(now - timedelta(seconds=61))  # stale after 60 s
    host_network_twin = _reporter(pool, [], pid=4242)
    await host_network_twin.run_once(None)
    same_host_and_pid = _reporter(pool, [], pid=4242)
    await same_host_and_pid.run_once(None)
    health = await loop_health(conn)
    assert {s.process for s in health.states} == {
        host_network_twin.process,
        same_host_and_pid.process,
    }


async def _seated(conn: Conn, reporter: HealthReporter, now: datetime | None = None) -> bool:
    counted = await executions_repo.running_by_tenant(
        conn, ["acme"], 1, reporter.process.process_id, now
    )
    return counted.seated


async def test_a_process_takes_its_seat_once_the_lock_free_starts_in_flight_commit(
    pool: Pool, conn: Conn, database_url: str
) -> None:
    """The report that takes a process's seat in the fleet (docs/architecture.md) waits for
    the starts without the per-tenant lock in flight, which did not count the process: it
    may start runs without the lock only once every later such start counts it. Its next
    reports keep the seat without the lock; half the stale time (60 s) after the last
    report, the seat is gone, and the next report takes it again under the lock; a stop
    deletes the rows under the lock too."""
    reporter = _reporter(pool, [])
    assert not await _seated(conn, reporter)
    async with advisory_lock_held(database_url, "worker-fleet", shared=True):
        report = asyncio.create_task(reporter.run_once(None))
        assert await waits_for_an_advisory_lock(database_url, report)
        assert not await _seated(conn, reporter)
        # A lock-free start beginning now tries the lock in vain (behind the waiting join), so
        # the join waits only for the starts already in flight, never for a stream of them.
        tried = await conn.execute(
            "SELECT pg_try_advisory_xact_lock_shared(hashtextextended('worker-fleet', 0))"
        )
        assert await tried.fetchone() == {"pg_try_advisory_xact_lock_shared": False}
    await asyncio.wait_for(report, 10)
    assert await _seated(conn, reporter)

    on_time = await db_now(conn) + timedelta(seconds=20)  # a third of the stale time on
    later = on_time + timedelta(seconds=31)
    async with advisory_lock_held(database_url, "worker-fleet", shared=True):
        await asyncio.wait_for(reporter.run_once(on_time), 10)  # seated: no lock to wait for
        report = asyncio.create_task(reporter.run_once(later))  # 31 s on: joins again
        assert await waits_for_an_advisory_lock(database_url, report)
    await asyncio.wait_for(report, 10)
    assert await _seated(conn, reporter, later + timedelta(seconds=29))
    assert not await _seated(conn, reporter, later + timedelta(seconds=31))

    async with advisory_lock_held(database_url, "worker-fleet", shared=True):
        forget = asyncio.create_task(reporter.forget())
        assert await waits_for_an_advisory_lock(database_url, forget)
    await asyncio.wait_for(forget, 10)
    assert not await _seated(conn, reporter, later)


async def test_a_report_refused_its_seat_is_written_all_the_same(
    pool: Pool, conn: Conn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A start without the per-tenant lock held open past a joining report's lock timeout (a
    frozen process) does not cost the report: the process's loops are in and it counts as
    alive, but it holds no seat, so its runs start under the tenant's lock; once the lock is
    free, its next report takes the seat. Before migration 0032 the seat was the report's own
    row, so the whole report failed and a working process looked silent."""
    loop = Idle(ServiceConfig("some.loop", period=1, stale_floor=60))
    reporter = _reporter(pool, [loop], fleet_lock_timeout=0.2)
    async with advisory_lock_held(database_url, "worker-fleet", shared=True):
        with caplog.at_level(logging.WARNING, logger="worker.health"):
            await asyncio.wait_for(reporter.run_once(None), 10)
        health = await loop_health(conn)
        assert {(s.process, s.loop) for s in health.states if not s.stale} == {
            (reporter.process, REPORT_LOOP),
            (reporter.process, "some.loop"),
        }
        counted = await executions_repo.running_by_tenant(
            conn, ["acme"], 1, reporter.process.process_id, None
        )
        assert (counted.processes, counted.seated) == (1, False)
    refused = [r for r in caplog.records if getattr(r, "event", "") == "health.fleet_seat_refused"]
    assert len(refused) == 1
    await asyncio.wait_for(reporter.run_once(None), 10)
    assert await _seated(conn, reporter)


async def test_a_seat_kept_is_renewed_only_if_still_held_when_the_report_is_written(
    pool: Pool, conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report that found its seat held and then stalled past half the stale time before it
    wrote (a frozen event loop) does not renew the seat: the other processes may have
    stopped counting this one meanwhile. Its runs take the tenant's lock until the next
    report takes the seat under the fleet lock."""
    reporter = _reporter(pool, [])
    await reporter.run_once(None)
    assert await _seated(conn, reporter)
    keep_or_take = health_repo._keep_or_take_seat

    async def stalled(*args: Any) -> Seat:
        seat = await keep_or_take(*args)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as other:
            await other.execute(
                "UPDATE worker_loop_health SET reported_at = reported_at - interval '31 s', "
                "seated_at = seated_at - interval '31 s' WHERE process_id = %s",
                (reporter.process.process_id,),
            )  # the report's 31 s, past half its 60 s stale time
        return seat

    monkeypatch.setattr(health_repo, "_keep_or_take_seat", stalled)
    own = LoopReport(REPORT_LOOP, 60.0, 0.0, 0.0, 0, None)
    async with pool.connection() as reporting:
        assert await report_loops(reporting, reporter.process, [own]) is Seat.LAPSED
    assert not await _seated(conn, reporter)
    monkeypatch.undo()
    async with pool.connection() as reporting:
        assert await report_loops(reporting, reporter.process, [own]) is Seat.TAKEN
    assert await _seated(conn, reporter)
