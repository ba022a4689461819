"""Dispatcher passes on a real database with injected time: misfires, DST, exactly-once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.cron import parse_cron
from app.domain.run_ids import made_at_millis
from app.domain.slots import slots_between
from app.domain.timezones import load_zone
from app.services.batch import Draft, upsert_batch
from app.services.dispatch import Lead, Lookahead, SlotCost, dispatch_once, next_wake
from app.services.schedules import ScheduleService
from db.repositories import schedules as schedules_repo
from db.repositories.schedules import Crowd
from db.types import Conn

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


async def _create(conn: Conn, at: datetime, **fields: Any) -> Any:
    return await ScheduleService(conn, "acme", clock=lambda: at).create(
        {"workflow_id": "wf", **fields}
    )


async def _rows(conn: Conn, schedule_id: Any) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        "SELECT e.*, e.job_id IS NOT NULL AS has_job FROM workflow_schedule_executions e "
        "WHERE trigger_id = %s ORDER BY scheduled_at",
        (schedule_id,),
    )
    return await cursor.fetchall()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", ["missed"] * 5),
        ("fire_once", ["missed"] * 4 + ["pending"]),
        ("fire_all", ["pending"] * 5),
    ],
)
async def test_downtime_by_misfire_policy(conn: Conn, policy: str, expected: list[str]) -> None:
    schedule = await _create(
        conn,
        T0 - timedelta(seconds=1),
        cron_expression="* * * * *",
        misfire_policy=policy,
        overlap_policy="allow_all",
        misfire_grace_seconds=30,
    )
    # Workers were down from 12:00 until 12:04:45: five slots passed, none within grace.
    stats = await dispatch_once(conn, now=T0 + timedelta(minutes=4, seconds=45))
    rows = await _rows(conn, schedule.id)
    assert [r["status"] for r in rows] == expected
    assert all(r["has_job"] == (r["status"] == "pending") for r in rows)
    if policy == "fire_once":
        assert rows[-1]["trigger"] == "catchup"
    assert stats.claimed == 1
    after = await ScheduleService(conn, "acme").get(schedule.id)
    assert after.next_run_at == T0 + timedelta(minutes=5)


async def test_pause_means_no_catch_up(conn: Conn) -> None:
    schedule = await _create(conn, T0 - timedelta(seconds=1), cron_expression="* * * * *")
    service = ScheduleService(conn, "acme", clock=lambda: T0 + timedelta(seconds=10))
    await service.pause(schedule.id, "quiet")
    resumed_at = T0 + timedelta(minutes=10, seconds=10)
    resumed = await ScheduleService(conn, "acme", clock=lambda: resumed_at).resume(
        schedule.id, None
    )
    assert resumed.next_run_at == T0 + timedelta(minutes=11)
    await dispatch_once(conn, now=resumed_at + timedelta(seconds=1))
    assert await _rows(conn, schedule.id) == []


async def test_dst_new_york_fires_exactly_what_preview_promised(conn: Conn) -> None:
    start = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    end = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    cases = {"30 2 * * *": None, "*/30 1-3 * * *": None, "0 * * * *": None}
    for cron in cases:
        cases[cron] = await _create(
            conn,
            start,
            cron_expression=cron,
            timezone="America/New_York",
            overlap_policy="allow_all",
        )
    promised = {
        cron: slots_between(  # slots strictly after creation, up to `end`
            parse_cron(cron), load_zone("America/New_York"), start + timedelta(microseconds=1), end
        )
        for cron in cases
    }
    instants = sorted({slot for slots in promised.values() for slot in slots})
    for instant in instants:  # the injected clock steps through every due instant
        await dispatch_once(conn, now=instant + timedelta(milliseconds=5))
    for cron, schedule in cases.items():
        fired = [r["scheduled_at"] for r in await _rows(conn, schedule.id)]
        assert fired == promised[cron], cron
    # 02:30 does not exist on 8 March: it fires once, at 03:00 EDT (07:00 UTC).
    assert datetime(2026, 3, 8, 7, 0, tzinfo=UTC) in promised["30 2 * * *"]


async def test_concurrent_dispatchers_fire_each_slot_once(database_url: str, conn: Conn) -> None:
    schedules = [
        await _create(
            conn,
            T0 - timedelta(seconds=1),
            cron_expression="* * * * * *",
            overlap_policy="allow_all",
        )
        for _ in range(50)
    ]

    async def dispatcher(now: datetime) -> int:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as own:
            return (await dispatch_once(own, now=now, limit=7)).fired

    total = 0
    for second in range(5):
        now = T0 + timedelta(seconds=second, milliseconds=10)
        for _ in range(10):  # many passes, from 4 connections at once, until nothing is due
            total += sum(await asyncio.gather(*(dispatcher(now) for _ in range(4))))
    cursor = await conn.execute(
        "SELECT count(*) AS n, count(DISTINCT (trigger_id, scheduled_at)) AS slots "
        "FROM workflow_schedule_executions"
    )
    row = await cursor.fetchone()
    assert row is not None
    assert row["n"] == row["slots"] == len(schedules) * 5 == total


async def test_remaining_runs_end_the_schedule(conn: Conn) -> None:
    schedule = await _create(
        conn,
        T0 - timedelta(seconds=1),
        cron_expression="* * * * * *",
        remaining_runs=2,
        overlap_policy="allow_all",
    )
    for second in range(4):
        await dispatch_once(conn, now=T0 + timedelta(seconds=second, milliseconds=1))
    assert len(await _rows(conn, schedule.id)) == 2
    ended = await ScheduleService(conn, "acme").get(schedule.id)
    assert ended.state == "ended" and ended.remaining_runs == 0 and ended.next_run_at is None


async def test_runs_get_ids_in_the_order_they_were_made(conn: Conn) -> None:
    """Run ids start with the pass's instant (app/domain/run_ids.py): the dispatcher's own
    (a run to send) and the insert's (a missed slot, wfs_run_id) alike, so the history's
    primary key grows at its right edge."""
    schedule = await _create(
        conn,
        T0 - timedelta(seconds=1),
        cron_expression="* * * * *",
        misfire_policy="fire_once",
        overlap_policy="allow_all",
        misfire_grace_seconds=30,
    )
    first, second = T0 + timedelta(minutes=4, seconds=45), T0 + timedelta(minutes=5)
    await dispatch_once(conn, now=first)  # four missed slots, then one caught up
    await dispatch_once(conn, now=second)
    rows = await _rows(conn, schedule.id)
    assert [r["status"] for r in rows] == ["missed"] * 4 + ["pending"] * 2
    assert {r["id"].version for r in rows} == {7}
    millis = [int(at.timestamp() * 1000) for at in (first,) * 5 + (second,)]
    assert [made_at_millis(r["id"]) for r in rows] == millis
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = %s ORDER BY id",
        (schedule.id,),
    )
    assert [r["id"] for r in await cursor.fetchall()][-1] == rows[-1]["id"]


async def test_a_long_outage_is_capped_and_counted(conn: Conn) -> None:
    schedule = await _create(
        conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *", misfire_policy="skip"
    )
    await dispatch_once(conn, now=T0 + timedelta(hours=2))
    rows = await _rows(conn, schedule.id)
    assert sum(r["status"] == "missed" for r in rows) == 1_000
    cursor = await conn.execute(
        "SELECT missed_uncounted FROM workflow_schedules WHERE id = %s", (schedule.id,)
    )
    counted = (await cursor.fetchone())["missed_uncounted"]  # type: ignore[index]
    # The last 61 slots were within the 60 s grace: the first fires, the others overlap it.
    assert sum(r["status"] == "pending" for r in rows) == 1
    assert sum(r["status"] == "skipped" for r in rows) == 60
    assert 1_000 + counted + 61 == 7_201


async def test_the_claim_counts_unfinished_runs_at_the_instant_and_not_ahead(conn: Conn) -> None:
    """The claim's counts feed the overlap decision: counted at the instant; ahead of it a
    schedule is taken only with nothing unfinished, so its counts are 0 without counting."""
    skip = await _create(conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *")
    buffer = await _create(
        conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *", overlap_policy="buffer_one"
    )
    await dispatch_once(conn, now=T0)  # one pending run each
    await dispatch_once(conn, now=T0 + timedelta(seconds=1))  # skipped; buffered

    async def claim(at: datetime, lookahead: float) -> dict[Any, tuple[int, int]]:
        async with conn.transaction():  # the claim's row locks end here; nothing is written
            claimed = await schedules_repo.claim_due(conn, 10, at, lookahead)
        return {c.schedule.id: (c.active_runs, c.buffered_runs) for c in claimed}

    assert await claim(T0 + timedelta(seconds=1.5), 1.0) == {}, "ahead, with runs unfinished"
    assert await claim(T0 + timedelta(seconds=2), 0.0) == {skip.id: (1, 0), buffer.id: (1, 1)}
    await conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'succeeded', finished_at = %s"
        " WHERE status = 'pending'",
        (T0 + timedelta(seconds=2),),
    )
    assert await claim(T0 + timedelta(seconds=1.5), 1.0) == {skip.id: (0, 0), buffer.id: (0, 0)}


async def test_a_run_not_sent_yet_holds_its_schedule_back_without_a_probe(conn: Conn) -> None:
    """After a pass dispatched an instant ahead, the next instant's schedules wait for runs
    that are not even due: the schedule's `dispatched_fire_at` says so (migration 0017), the
    history is probed only once that instant has passed."""
    schedule = await _create(conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *")
    await dispatch_once(conn, now=T0 - timedelta(seconds=0.5), lookahead=1.0)
    stored = await ScheduleService(conn, "acme").get(schedule.id)
    assert (stored.next_fire_at, stored.dispatched_fire_at) == (T0 + timedelta(seconds=1), T0)
    # With the run gone (a probe would find nothing), the schedule still waits until its
    # latest dispatched run's instant: that run cannot have ended before it was sent.
    await conn.execute(
        "DELETE FROM workflow_schedule_executions WHERE trigger_id = %s", (schedule.id,)
    )
    before = await schedules_repo.next_fire(conn, 100, T0 - timedelta(seconds=0.4))
    after = await schedules_repo.next_fire(conn, 100, T0 + timedelta(seconds=0.1))
    assert (before.goes_ahead, after.goes_ahead) == (False, True)
    async with conn.transaction():  # the claim asks the same, before and after that instant
        assert await schedules_repo.claim_due(conn, 10, T0 - timedelta(seconds=0.4), 2.0) == []
        claimed = await schedules_repo.claim_due(conn, 10, T0 + timedelta(seconds=0.1), 1.0)
        assert [c.schedule.id for c in claimed] == [schedule.id]
        raise psycopg.Rollback()
    await dispatch_once(conn, now=T0 + timedelta(seconds=0.5), lookahead=1.0)
    stored = await ScheduleService(conn, "acme").get(schedule.id)
    assert stored.dispatched_fire_at == T0 + timedelta(seconds=1)


async def test_a_pass_records_a_bounded_number_of_slots(conn: Conn) -> None:
    """Schedules back from an outage: each records ~1,000 slots in its pass. A pass plans its
    claimed schedules until the budget is reached and leaves the others due, unchanged, for
    the next pass: a worker never holds every claimed schedule's catch-up at once."""
    schedules = [
        await _create(
            conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *", misfire_policy="skip"
        )
        for _ in range(3)
    ]
    later = T0 + timedelta(hours=2)
    counts = []
    for _ in range(3):
        stats = await dispatch_once(conn, now=later, row_budget=500)
        counts.append((stats.claimed, stats.left))
        advanced = [
            (await ScheduleService(conn, "acme").get(s.id)).next_run_at > later for s in schedules
        ]
        rows = [len(await _rows(conn, s.id)) for s in schedules]
        assert rows == [1_061 if moved else 0 for moved in advanced]
    assert counts == [(3, 2), (2, 1), (1, 0)]
    assert all(advanced)
    assert (await dispatch_once(conn, now=later, row_budget=500)).claimed == 0


async def test_lookahead_dispatches_before_the_instant(conn: Conn) -> None:
    free = await _create(
        conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *", overlap_policy="allow_all"
    )
    busy = await _create(conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *")
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=1))  # both fire at 12:00:00
    # 300 ms before 12:00:01, with a lookahead of 0.5 s.
    ahead = T0 + timedelta(milliseconds=700)
    stats = await dispatch_once(conn, now=ahead, lookahead=0.5)
    assert stats.claimed == 1, "only the schedule whose overlap policy does not care"
    rows = await _rows(conn, free.id)
    assert [r["scheduled_at"] for r in rows] == [T0, T0 + timedelta(seconds=1)]
    assert rows[-1]["fire_at"] == T0 + timedelta(seconds=1) and rows[-1]["status"] == "pending"
    # The other one is decided at its instant, when its previous run may have finished.
    assert len(await _rows(conn, busy.id)) == 1
    stats = await dispatch_once(conn, now=T0 + timedelta(seconds=1, milliseconds=1))
    assert stats.claimed == 1
    assert [r["status"] for r in await _rows(conn, busy.id)] == ["pending", "skipped"]


async def test_a_crowded_second_is_dispatched_earlier(conn: Conn) -> None:
    for _ in range(5):
        await _create(conn, T0, cron_expression="0 0 0 1 1 *", timezone="UTC")
    for cron in ("1 0 0 1 1 *", "0 30 0 1 1 *"):  # outside the second of the first instant
        await _create(conn, T0, cron_expression=cron, timezone="UTC")
    lookahead = Lookahead(base=0.3, margin=1.0)
    wake = await next_wake(conn, lookahead, SlotCost(seconds=0.1))
    instant = datetime(2027, 1, 1, tzinfo=UTC)
    assert wake.lead.seconds == 0.3, "anything else keeps the short lead"
    assert wake.lead.crowd == Crowd(instant, instant + timedelta(seconds=1), 0.3 + 5 * 0.1)
    until = (instant - datetime.now(UTC)).total_seconds()
    assert wake.delay == pytest.approx(until - 0.8, abs=5)
    # The count stops at its limit.
    wake = await next_wake(conn, Lookahead(base=0.3, margin=1.0, count_limit=2), SlotCost(0.1))
    assert wake.lead.crowd is not None and wake.lead.crowd.lead == pytest.approx(0.5)


async def test_only_the_crowded_second_goes_far_ahead(conn: Conn) -> None:
    """An every-second schedule keeps the short lead while a crowd 10 s away is dispatched:
    one slot ahead, not one per second of the crowd's lead."""
    crowd = [
        await _create(conn, T0, cron_expression="10 0 12 * * *", overlap_policy="allow_all")
        for _ in range(3)
    ]
    steady = await _create(
        conn, T0 - timedelta(seconds=1), cron_expression="* * * * * *", overlap_policy="allow_all"
    )
    now = T0 + timedelta(milliseconds=100)
    lead = Crowd(T0 + timedelta(seconds=10), T0 + timedelta(seconds=11), 12.0)
    for _ in range(5):  # the dispatcher's passes, until nothing more is claimed
        await dispatch_once(conn, now=now, lookahead=0.3, crowd=lead)
    assert [r["scheduled_at"] for r in await _rows(conn, steady.id)] == [T0]
    for schedule in crowd:
        assert [r["fire_at"] for r in await _rows(conn, schedule.id)] == [lead.start]
    # Not yet within the crowd's lead: nothing of it is claimed.
    later = Crowd(T0 + timedelta(days=1), T0 + timedelta(days=1, seconds=1), 12.0)
    stats = await dispatch_once(conn, now=now + timedelta(seconds=1), lookahead=0.3, crowd=later)
    assert stats.claimed == 1  # the every-second schedule's next slot


async def test_nothing_active_means_no_wake(conn: Conn) -> None:
    wake = await next_wake(conn, Lookahead())
    assert (wake.delay, wake.lead) == (None, Lead(0.3))


def test_the_lead_grows_with_the_crowd_without_a_cap() -> None:
    lookahead = Lookahead(base=0.3, margin=1.5)
    assert lookahead.seconds(0, 0.0003) == 0.3
    assert lookahead.seconds(10_000, 0.0003) == pytest.approx(4.8)
    assert lookahead.seconds(100_000, 0.0003) == pytest.approx(45.3)
    assert lookahead.seconds(100_000, 0.0003, dispatchers=2) == pytest.approx(22.8)
    assert lookahead.seconds(1_000_000, 0.0003) == pytest.approx(450.3)


def test_the_cost_per_slot_is_measured_on_large_runs_of_passes() -> None:
    cost = SlotCost(seconds=0.001, min_sample=1_000, weight=0.5)
    # Two dispatchers sharing 20,000 slots in 3 s: each claimed 10,000 -> 0.15 ms a slot.
    cost.observe(elapsed=3.0, claimed=10_000, dispatchers=2)
    assert cost.seconds == pytest.approx((0.001 + 0.00015) / 2)
    # Two dispatchers sharing 1,000 slots in 0.1 s, 500 each: a run of the whole second.
    cost.observe(elapsed=0.1, claimed=500, dispatchers=2)
    assert cost.seconds == pytest.approx(((0.001 + 0.00015) / 2 + 0.0001) / 2)


def test_small_runs_of_passes_are_pooled_so_the_lead_cannot_stay_pessimistic() -> None:
    """Two dispatchers claiming each second in dribbles of 100 slots (each 10 ms): no run is a
    sample alone, yet their lead must not stay the pessimistic start's."""
    cost = SlotCost(seconds=0.001, min_sample=1_000, weight=0.5)
    for _ in range(4):
        cost.observe(elapsed=0.01, claimed=100, dispatchers=2)
    assert cost.seconds == 0.001  # 800 slots among the two: not enough yet
    cost.observe(elapsed=0.01, claimed=100, dispatchers=2)
    assert cost.seconds == pytest.approx((0.001 + 0.05 / 1_000) / 2)
    # A run large enough alone is a sample alone; it drops what was pooled before it.
    cost.observe(elapsed=0.5, claimed=400, dispatchers=2)  # pooled: 800 slots, 0.5 s
    cost.observe(elapsed=0.1, claimed=1_000, dispatchers=1)
    before = cost.seconds
    cost.observe(elapsed=0.01, claimed=100, dispatchers=2)  # 200 pooled, not the 1,000 above
    assert cost.seconds == before
    # Small runs slower than the pessimistic start (a quiet deployment's round trips) never
    # make the lead longer than that start would.
    slow = SlotCost(seconds=0.001, min_sample=1_000, weight=0.5)
    for _ in range(10):
        slow.observe(elapsed=1.0, claimed=1, dispatchers=100)
    assert slow.seconds == 0.001
    slow.observe(elapsed=0.0, claimed=0, dispatchers=1)  # an idle run says nothing
    assert slow.seconds == 0.001


async def test_a_crowd_the_statistics_do_not_know_gets_them_refreshed(conn: Conn) -> None:
    """A crowd created in bulk since the last ANALYZE would have every claim planned for a
    handful of rows (a bitmap scan and sort of the whole crowd per pass)."""
    service = ScheduleService(conn, "acme", clock=lambda: T0)
    fields = {"workflow_id": "wf", "cron_expression": "0 0 0 1 1 *"}
    drafts = [Draft(i, fields) for i in range(1_500)]
    for start in range(0, len(drafts), 1_000):
        await upsert_batch(service, drafts[start : start + 1_000])

    async def planned() -> float:
        cursor = await conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'workflow_schedules'::regclass"
        )
        return float((await cursor.fetchone())["reltuples"])  # type: ignore[index]

    assert await planned() < 1_500
    await next_wake(conn, Lookahead())
    assert await planned() == 1_500


def test_a_lead_covers_the_same_crowd_with_a_shorter_lead() -> None:
    """The dispatcher's idle pause (M4) needs this: a crowd whose count moved because another
    dispatcher claimed some of it is the same crowd, not a reason to retry at once."""
    crowd = Crowd(T0, T0 + timedelta(seconds=1), 10.0)
    shorter = Crowd(T0, T0 + timedelta(seconds=1), 9.0)
    assert Lead(0.3, crowd).covers(Lead(0.3, shorter))
    assert not Lead(0.3, shorter).covers(Lead(0.3, crowd))
    assert not Lead(0.3).covers(Lead(0.3, crowd))
    assert Lead(0.3, crowd).covers(Lead(0.3))
    later = Crowd(T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), 1.0)
    assert not Lead(0.3, crowd).covers(Lead(0.3, later))
