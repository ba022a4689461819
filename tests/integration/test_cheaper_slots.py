"""Runs the dispatcher runs itself are inserted already started (issue 13): their start is a
read, the history and the statistics are what a start by UPDATE writes, a tenant near its cap
is left to the start's lock, and a process that did not insert them starts them again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.domain.outcome import Outcome
from app.services.attempts import STARTED_AHEAD, Answer, finish_batch, racing_starts, start_batch
from app.services.dispatch import dispatch_once
from app.services.schedules import ScheduleService
from db import jobs
from db.repositories import executions as executions_repo
from db.repositories import schedules as schedules_repo
from db.repositories import stats as stats_repo
from db.repositories.schedules import StreakUpdate
from db.repositories.stats import fold
from db.types import Conn
from tests.support.db import (
    advisory_lock_held,
    report_worker_processes,
    seat_lapses_before,
    seated_process,
)

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
AT = T0 + timedelta(seconds=1)  # when `_dispatch_here` dispatches
OWN = "http://127.0.0.1:9/allowed"
OK = Outcome("succeeded", 200, None, None, None, 12)


async def _schedule(conn: Conn, tenant: str = "acme") -> Any:
    return await ScheduleService(conn, tenant, clock=lambda: T0).create(
        {"workflow_id": "wf", "cron_expression": "* * * * * *", "overlap_policy": "allow_all"}
    )


async def _run(conn: Conn, schedule_id: UUID) -> dict[str, Any]:
    cursor = await conn.execute(
        "SELECT e.*, e.xmin::text AS version, j.status AS job_status "
        "FROM workflow_schedule_executions e JOIN procrastinate_jobs j ON j.id = e.job_id "
        "WHERE e.trigger_id = %s",
        (schedule_id,),
    )
    rows = await cursor.fetchall()
    assert len(rows) == 1
    return rows[0]


async def _delta_rows(conn: Conn, schedule_id: UUID) -> int:
    """The schedule's statistics rows not folded yet, of both kinds (narrow and outcome)."""
    cursor = await conn.execute(
        "SELECT (SELECT count(*) FROM workflow_schedule_stat_deltas WHERE trigger_id = %(id)s)"
        " + (SELECT count(*) FROM workflow_schedule_outcome_deltas WHERE trigger_id = %(id)s)"
        " AS n",
        {"id": schedule_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def _dispatch_here(
    conn: Conn, *, seated: bool = True, seat: UUID | None = None, fired: int = 1, **options: Any
) -> list[UUID]:
    """One pass (at T0 + 1 s) whose jobs this process runs; `seated`: the process holds its
    seat in the fleet, as a worker does once its first health report is in (`seat`, or a new
    process's)."""
    worker = await jobs.register_worker(conn)
    if seated and seat is None:
        seat = await seated_process(conn, AT)
    stats = await dispatch_once(
        conn,
        now=AT,
        local_worker_id=worker,
        local_capacity=fired,
        seat=seat if seated else None,
        **options,
    )
    assert stats.fired == fired
    return [run for _, runs in stats.local_jobs for run in runs]


async def test_a_run_dispatched_for_this_process_is_inserted_started(conn: Conn) -> None:
    schedule = await _schedule(conn)
    ids = await _dispatch_here(conn, max_runs_in_flight=1_000)
    run = await _run(conn, schedule.id)
    assert (run["status"], run["attempts"], run["job_status"]) == ("running", 1, "doing")
    assert run["started_at"] == run["executed_at"] == T0 + timedelta(seconds=1)

    attempts = await start_batch(conn, ids, max_in_flight=1_000)
    assert [(a.execution_id, a.attempt) for a in attempts] == [(run["id"], 1)]
    assert (await _run(conn, schedule.id))["version"] == run["version"]  # read, not written

    await finish_batch(conn, [Answer(attempts[0], OK, run["started_at"])])
    metrics = await stats_repo.of_schedule(conn, schedule.id)
    assert metrics.get(("status", "running"), 0) == 0
    assert metrics[("status", "succeeded")] == 1
    assert sum(v for (m, _), v in metrics.items() if m == "duration_bucket") == 1
    everything = await stats_repo.global_metrics(conn)
    assert everything[("lag_count", "")] == 1  # sampled once, by the insert
    assert everything[("finished", "succeeded")] == everything[("duration_total_count", "")] == 1


async def test_deployment_wide_metrics_are_not_kept_per_schedule_and_fold_exactly(
    conn: Conn,
) -> None:
    """/metrics' counters (finished, lag, lifetime durations) are summed per statement, not
    written per schedule, its running run is counted live, its duration count is its
    buckets' sum, and its status and duration are one outcome delta: a slot costs its schedule
    1 statistics row (15 before migration 0011, 6 before 0013, 4 before 0016, 3 before 0021;
    issue 13)."""
    schedule = await _schedule(conn)
    ids = await _dispatch_here(conn)
    attempts = await start_batch(conn, ids)
    await finish_batch(conn, [Answer(attempts[0], OK, None)])
    per_schedule = await stats_repo.of_schedule(conn, schedule.id)
    assert {m for m, _ in per_schedule} == {
        "status", "duration_sum_ms", "duration_bucket"
    }  # fmt: skip
    before = await stats_repo.global_metrics(conn)
    assert before[("duration_total_sum_ms", "")] == 12
    assert await _delta_rows(conn, schedule.id) == 1
    assert await fold(conn)
    assert await stats_repo.global_metrics(conn) == before
    assert await stats_repo.of_schedule(conn, schedule.id) == per_schedule


async def test_unfinished_runs_are_counted_live_not_by_deltas(conn: Conn) -> None:
    """A run in flight writes no per-schedule delta (migration 0013): its schedule counts it
    from the executions table, its tenant and the deployment from one tenant delta per
    statement (so /metrics never counts unfinished runs). The schedule's, the tenant's and the
    deployment's counts and the list view's total see it until it ends, then see its end."""
    schedule = await _schedule(conn)
    ids = await _dispatch_here(conn)
    assert await _delta_rows(conn, schedule.id) == 0
    tenant_deltas = await conn.execute(
        "SELECT tenant, metric, key, value FROM workflow_stat_tenant_deltas"
    )
    assert await tenant_deltas.fetchall() == [
        {"tenant": "acme", "metric": "status", "key": "running", "value": 1}
    ]
    readers = (
        lambda: stats_repo.of_schedule(conn, schedule.id),
        lambda: stats_repo.of_tenant(conn, "acme"),
        lambda: stats_repo.global_metrics(conn),
    )
    for read in readers:
        counts = await read()
        assert counts[("status", "running")] == 1
        assert ("status", "succeeded") not in counts
    totals = await stats_repo.summaries(conn, [schedule.id])
    assert totals[schedule.id] == stats_repo.StatusTotals(total=1, succeeded=0, failed=0)

    attempts = await start_batch(conn, ids)
    await finish_batch(conn, [Answer(attempts[0], OK, None)])
    for read in readers:
        counts = await read()
        assert counts.get(("status", "running"), 0) == 0
        assert counts[("status", "succeeded")] == 1
    assert await fold(conn)
    for read in readers:
        assert (await read())[("status", "succeeded")] == 1
    totals = await stats_repo.summaries(conn, [schedule.id])
    assert totals[schedule.id] == stats_repo.StatusTotals(total=1, succeeded=1, failed=0)


async def test_the_start_builds_the_attempt_it_would_read(conn: Conn) -> None:
    """A run inserted started for this process gets its first attempt built from what its
    dispatcher held, equal to what `read_started` reads back; a schedule's own target URL is
    read at the start, for its tenant's signing keys."""
    schedule = await ScheduleService(
        conn, "acme", target_allowlist=(OWN,), clock=lambda: T0
    ).create(
        {
            "workflow_id": "wf/odd name",
            "cron_expression": "* * * * * *",
            "overlap_policy": "allow_all",
            "input": {"n": [1, {"deep": "é"}], "none": None, "x": 2.5},
            "timeout_seconds": 7.5,
            "max_attempts": 5,
            "retry_backoff_seconds": 2.5,
            "completion_timeout_seconds": 600,
        }
    )
    ids = await _dispatch_here(conn)
    [(slot, made)] = STARTED_AHEAD.take(ids).values()
    assert made is not None and made[0].id == schedule.id
    STARTED_AHEAD.add({ids[0]: (slot, made)})
    at = T0 + timedelta(seconds=2)
    [read] = await executions_repo.read_started(conn, {ids[0]: slot}, now=at)
    [built] = await start_batch(conn, ids, now=at)
    assert built == read
    assert json.dumps(built.input) == json.dumps(read.input)  # 2.5 stays 2.5, 1 stays 1

    await ScheduleService(conn, "acme", target_allowlist=(OWN,), clock=lambda: T0).create(
        {"workflow_id": "wf", "cron_expression": "* * * * * *", "target_url": f"{OWN}/own"}
    )  # due at the same instant: the first schedule has moved on
    ids = await _dispatch_here(conn)
    [(slot, made)] = STARTED_AHEAD.take(ids).values()
    assert made is None
    STARTED_AHEAD.add({ids[0]: (slot, None)})
    [attempt] = await start_batch(conn, ids)
    assert (attempt.attempt, attempt.target_url, attempt.tenant_keys) == (1, f"{OWN}/own", ())


@pytest.mark.parametrize(
    "change",
    [
        "attempts = 2",  # another process took over its job and started it again
        "status = 'succeeded', finished_at = now()",  # ...and it ended there
    ],
)
async def test_a_run_started_again_elsewhere_is_not_sent_from_here(conn: Conn, change: str) -> None:
    """This process's heartbeat fell silent long enough for another process to take over its
    jobs: a run it dispatched is sent by that process, not from here as well."""
    await _schedule(conn)
    ids = await _dispatch_here(conn)
    await conn.execute(f"UPDATE workflow_schedule_executions SET {change}")  # noqa: S608
    assert await start_batch(conn, ids) == []


async def test_a_tenant_near_its_cap_is_left_pending_for_the_start(conn: Conn) -> None:
    schedule = await _schedule(conn)
    cap = racing_starts(0) - 1  # 1 run x the racing starts (the caller's alone) > the cap
    ids = await _dispatch_here(conn, max_runs_in_flight=cap)
    assert (await _run(conn, schedule.id))["status"] == "pending"
    attempts = await start_batch(conn, ids, max_in_flight=cap)
    assert [a.attempt for a in attempts] == [1]
    assert (await _run(conn, schedule.id))["status"] == "running"


async def test_a_tenant_whose_lock_a_locked_start_holds_is_left_pending(
    conn: Conn, database_url: str
) -> None:
    """Far below its cap, but a start under the tenant's lock is in flight: the dispatcher
    does not wait for it, and leaves the run for `start_batch` to count after it."""
    schedule = await _schedule(conn)
    async with advisory_lock_held(database_url, "tenant-in-flight:acme"):
        ids = await _dispatch_here(conn, max_runs_in_flight=1_000)
        assert (await _run(conn, schedule.id))["status"] == "pending"
    assert [a.attempt for a in await start_batch(conn, ids, max_in_flight=1_000)] == [1]


async def test_a_dispatcher_without_a_seat_in_the_fleet_starts_no_capped_run(conn: Conn) -> None:
    """Its process may go uncounted by the others' lock-free starts (no seat): far
    below the cap, the run is still left for `start_batch` to start under the lock."""
    schedule = await _schedule(conn)
    await _dispatch_here(conn, seated=False, max_runs_in_flight=1_000)
    assert (await _run(conn, schedule.id))["status"] == "pending"


async def test_a_pass_counts_all_its_runs_of_a_tenant_whatever_jobs_they_are_in(
    conn: Conn,
) -> None:
    """A pass that starts a tenant's runs is one start of all of them: jobs of 250 and 1 run
    are 251 runs racing the others, not the 250 of the fuller job (counted by its fuller job,
    a crowded pass of 8 jobs started them all where the tenant had room for 5 jobs' runs)."""
    runs = jobs.BATCH_SIZE + 1
    for _ in range(runs):
        await _schedule(conn)
    cap = runs * racing_starts(1) - 1  # the fuller job x the racing starts fits; all do not
    await _dispatch_here(conn, fired=runs, max_runs_in_flight=cap)
    cursor = await conn.execute(
        "SELECT status, count(*) AS n FROM workflow_schedule_executions GROUP BY status"
    )
    assert await cursor.fetchall() == [{"status": "pending", "n": runs}]


async def test_a_pass_that_outlives_its_seat_leaves_its_capped_runs_for_the_lock(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seat held when the pass counted the processes, gone before it commits (its health
    report aged past half its stale time meanwhile: a stalled event loop, a frozen process):
    the pass is rolled back and made again without the seat, its run left `pending`."""
    schedule = await _schedule(conn)
    seat = await seated_process(conn, AT)
    seat_lapses_before(monkeypatch, executions_repo, "insert_many", database_url, seat)
    await _dispatch_here(conn, seat=seat, max_runs_in_flight=1_000)
    assert (await _run(conn, schedule.id))["status"] == "pending"


async def test_no_run_starts_without_the_lock_while_a_process_takes_its_seat(
    conn: Conn, database_url: str
) -> None:
    """A process taking (or leaving) its seat holds the fleet lock: a lock-free start tries it
    shared and, held, starts nothing without the per-tenant lock (the process's report would
    otherwise commit unseen by this start's count of the processes)."""
    schedule = await _schedule(conn)
    async with advisory_lock_held(database_url, "worker-fleet"):
        await _dispatch_here(conn, max_runs_in_flight=1_000)
        assert (await _run(conn, schedule.id))["status"] == "pending"


async def test_the_dispatcher_counts_the_worker_processes_alive(conn: Conn) -> None:
    """A run is started by its dispatcher when its tenant stays within the cap even with every
    process alive starting such batches at once; each live process makes that stricter."""
    cap = racing_starts(1)  # the dispatcher's own process alone: 1 run fits
    await report_worker_processes(conn, 3, T0 - timedelta(minutes=5))  # stale: not counted
    seat = await seated_process(conn, AT)
    first = await _schedule(conn)
    await _dispatch_here(conn, seat=seat, max_runs_in_flight=cap)
    assert (await _run(conn, first.id))["status"] == "running"
    await report_worker_processes(conn, 3, T0)
    second = await _schedule(conn, "globex")  # nothing running: only the processes differ
    await _dispatch_here(conn, seat=seat, max_runs_in_flight=cap)
    assert (await _run(conn, second.id))["status"] == "pending"


async def test_another_process_starts_a_started_run_again(conn: Conn) -> None:
    """What recovery does with the run of a worker that died after its dispatch committed:
    its job is run again elsewhere, which counts a new attempt (same Idempotency-Key)."""
    schedule = await _schedule(conn)
    ids = await _dispatch_here(conn)
    STARTED_AHEAD.take(ids)  # another process never had them
    attempts = await start_batch(conn, ids)
    assert [a.attempt for a in attempts] == [2]
    assert (await _run(conn, schedule.id))["attempts"] == 2


async def test_a_run_cancelled_before_its_start_is_not_sent(conn: Conn) -> None:
    schedule = await _schedule(conn)
    ids = await _dispatch_here(conn)
    await conn.execute("DELETE FROM workflow_schedules WHERE id = %s", (schedule.id,))
    assert await start_batch(conn, ids) == []
    cursor = await conn.execute(
        "SELECT status FROM workflow_schedule_executions WHERE id = %s", (ids[0],)
    )
    assert await cursor.fetchone() == {"status": "cancelled"}


async def test_a_batch_sends_the_runs_whose_schedule_is_there_and_cancels_the_others(
    conn: Conn,
) -> None:
    """The start's check reads the runs once and cancels only those whose schedule is gone:
    in one batch, the run of a deleted schedule ends cancelled and is not sent, the other
    run is sent."""
    kept, gone = await _schedule(conn), await _schedule(conn)
    worker = await jobs.register_worker(conn)
    stats = await dispatch_once(
        conn, now=T0 + timedelta(seconds=1), local_worker_id=worker, local_capacity=2
    )
    assert stats.fired == 2
    ids = [run for _, runs in stats.local_jobs for run in runs]
    await conn.execute("DELETE FROM workflow_schedules WHERE id = %s", (gone.id,))
    attempts = await start_batch(conn, ids)
    assert [(a.trigger_id, a.attempt) for a in attempts] == [(kept.id, 1)]
    cursor = await conn.execute(
        "SELECT trigger_id, status FROM workflow_schedule_executions ORDER BY status"
    )
    assert await cursor.fetchall() == [
        {"trigger_id": gone.id, "status": "cancelled"},
        {"trigger_id": kept.id, "status": "running"},
    ]


async def test_an_update_that_changes_no_status_or_duration_writes_no_statistics(
    conn: Conn,
) -> None:
    schedule = await _schedule(conn)
    ids = await _dispatch_here(conn)
    before = await _delta_rows(conn, schedule.id)
    await conn.execute(
        "UPDATE workflow_schedule_executions SET workflow_run_id = 'run-1' WHERE id = %s",
        (ids[0],),
    )
    assert await _delta_rows(conn, schedule.id) == before
    assert (await stats_repo.of_schedule(conn, schedule.id))[("status", "running")] == 1

    attempts = await start_batch(conn, ids)
    await finish_batch(conn, [Answer(attempts[0], OK, None)])
    finished = await _delta_rows(conn, schedule.id)
    counts = await stats_repo.of_schedule(conn, schedule.id)
    await conn.execute(  # a finished run's status and duration stay: nothing to count
        "UPDATE workflow_schedule_executions SET workflow_run_id = 'run-2' WHERE id = %s",
        (ids[0],),
    )
    assert await _delta_rows(conn, schedule.id) == finished
    assert await stats_repo.of_schedule(conn, schedule.id) == counts
    await conn.execute(  # a duration corrected, status kept: its sum moves, no count does
        "UPDATE workflow_schedule_executions SET duration_ms = 30 WHERE id = %s", (ids[0],)
    )
    after = await stats_repo.of_schedule(conn, schedule.id)
    assert after[("duration_sum_ms", "")] == 30
    assert after[("status", "succeeded")] == counts[("status", "succeeded")] == 1
    assert sum(v for (m, _), v in after.items() if m == "duration_bucket") == 1


async def _pages(conn: Conn, ids: list[UUID]) -> list[int]:
    """The heap page of each schedule (its ctid's block), in the order of `ids`."""
    cursor = await conn.execute(
        "SELECT (s.ctid::text::point)[0]::int AS page FROM workflow_schedules s"
        " JOIN unnest(%s::uuid[]) WITH ORDINALITY AS u(id, n) ON u.id = s.id ORDER BY u.n",
        (ids,),
    )
    return [r["page"] for r in await cursor.fetchall()]


async def test_a_schedules_last_run_is_recorded_on_its_own_page(conn: Conn) -> None:
    """Schedules' pages keep room (migration 0023): recording a last run changes no indexed
    column, so its new row version stays on the row's page (a HOT update: no index entry,
    pruned in place) instead of moving to another page of a full table. Between two updates
    of a row, pruning takes its old version away; here, with nothing pruned, half of the rows
    of each page get a new version."""
    service = ScheduleService(conn, "acme", clock=lambda: T0)
    ids = [
        (await service.create({"workflow_id": f"wf-{n}", "cron_expression": "* * * * *"})).id
        for n in range(150)  # several pages
    ]
    ran = ids[::2]
    before = await _pages(conn, ran)
    await schedules_repo.record_outcomes(
        conn, [StreakUpdate(i, "succeeded", T0, 0, True) for i in ran], now=T0
    )
    assert await _pages(conn, ran) == before


async def test_a_fold_updates_the_statistics_values_on_their_own_pages(conn: Conn) -> None:
    """The statistics' values keep room too (migration 0023): a fold that adds to existing
    values (no indexed column changes) leaves each row on its page; with nothing pruned,
    a quarter of each page's rows get a new version."""
    ids = sorted(uuid4() for _ in range(600))  # one values row a schedule: several pages

    async def counted(ran: list[UUID]) -> list[int]:
        await conn.execute(
            "INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)"
            " SELECT id, 'acme', 'status', 'succeeded', 1 FROM unnest(%s::uuid[]) AS id",
            (ran,),
        )
        assert await fold(conn)
        cursor = await conn.execute(
            "SELECT (v.ctid::text::point)[0]::int AS page FROM workflow_schedule_stat_values v"
            " JOIN unnest(%s::uuid[]) WITH ORDINALITY AS u(id, n) ON v.scope = 's:' || u.id"
            " WHERE v.metric = 'status' ORDER BY u.n",
            (ran,),
        )
        return [r["page"] for r in await cursor.fetchall()]

    before = await counted(ids)
    assert len(before) == len(ids)
    assert await counted(ids[::4]) == before[::4]
