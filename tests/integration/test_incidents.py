"""Incidents on the real database (issue 12): each kind opens and resolves where its event
happens, in that transaction, with exactly one outbox row per announcement and channel; the
flapping bound; the watcher's run.late. Time is injected wherever the services take it."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from app.api.metrics_text import render
from app.domain import incidents as rules
from app.domain.incidents import AlertPolicy, IncidentEvent
from app.domain.outcome import Outcome
from app.errors import IncidentNotFound
from app.services.attempts import Answer, finish_batch, start_batch
from app.services.dispatch import dispatch_once
from app.services.incidents import IncidentService, record_events, watch_once
from app.services.metrics import collect
from app.services.schedules import ScheduleService
from db.repositories.stats import fold
from db.types import Conn
from tests.support.cli import run_cli

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
FAILED = Outcome("failed", 500, "HTTP 500", None, None, 3)
OK = Outcome("succeeded", 200, None, None, None, 3)
POLICY = AlertPolicy(min_interval_seconds=300, public_url="https://scheduler.example")


async def _schedule(conn: Conn, tenant: str = "acme", **fields: Any) -> UUID:
    service = ScheduleService(conn, tenant, clock=lambda: T0 - timedelta(seconds=1))
    created = await service.create(
        {"workflow_id": "nightly", "cron_expression": "* * * * *", **fields}
    )
    return created.id


async def _channel(conn: Conn, tenant: str = "acme", events: list[str] | None = None) -> UUID:
    cursor = await conn.execute(
        "INSERT INTO alert_channels (tenant, name, kind, url, secret, events) "
        "VALUES (%s, 'ops', 'webhook', 'http://127.0.0.1:9/hook', 'whsec_x', %s) RETURNING id",
        (tenant, events or ["run.failed", "schedule.paused", "slot.missed", "run.late"]),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


async def _deliveries(conn: Conn) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        "SELECT channel_id, event_type, payload FROM alert_deliveries ORDER BY created_at, id"
    )
    return await cursor.fetchall()


async def _incidents(
    conn: Conn, schedule_id: UUID, kind: str | None = None
) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        "SELECT * FROM alert_incidents WHERE trigger_id = %s AND kind = coalesce(%s, kind) "
        "ORDER BY opened_at",
        (schedule_id, kind),
    )
    return await cursor.fetchall()


async def _run_slot(conn: Conn, minute: int, outcome: Outcome) -> None:
    """Fire the slot of minute `minute` after T0 and answer it with `outcome`."""
    instant = T0 + timedelta(minutes=minute)
    await dispatch_once(conn, now=instant + timedelta(milliseconds=5), alerts=POLICY)
    attempts = await start_batch(conn, await _pending(conn), now=instant)
    await finish_batch(
        conn,
        [Answer(a, outcome, instant + timedelta(seconds=1)) for a in attempts],
        random.Random(1),
        alerts=POLICY,
    )


async def test_a_failing_schedule_opens_one_incident_then_resolves_it(conn: Conn) -> None:
    schedule_id = await _schedule(conn, max_attempts=1)
    channel = await _channel(conn)
    other_tenant = await _channel(conn, tenant="globex")
    for minute in range(3):
        await _run_slot(conn, minute, FAILED)
    [incident] = await _incidents(conn, schedule_id)
    assert (incident["kind"], incident["state"], incident["occurrences"]) == (
        "run.failed",
        "open",
        3,
    )
    opened = await _deliveries(conn)
    assert [(d["channel_id"], d["event_type"]) for d in opened] == [(channel, "incident.opened")]
    body = opened[0]["payload"]
    assert body["type"] == "incident.opened"
    assert body["incident"]["id"] == str(incident["id"])
    assert body["incident"]["scheduleId"] == str(schedule_id)
    assert body["incident"]["workflowId"] == "nightly" and body["incident"]["tenant"] == "acme"
    assert body["incident"]["resolvedAt"] is None and body["incident"]["occurrences"] == 1
    assert body["incident"]["dashboardUrl"] == f"https://scheduler.example/schedules/{schedule_id}"
    assert set(body["incident"]) == {
        "id", "kind", "scheduleId", "workflowId", "tenant", "openedAt", "resolvedAt",
        "occurrences", "lastExecutionId", "summary", "dashboardUrl",
    }  # fmt: skip

    await _run_slot(conn, 3, OK)
    [incident] = await _incidents(conn, schedule_id)
    assert incident["state"] == "resolved"
    sent = await _deliveries(conn)
    assert [d["event_type"] for d in sent] == ["incident.opened", "incident.resolved"]
    assert all(d["channel_id"] != other_tenant for d in sent)
    resolved = sent[1]["payload"]["incident"]
    assert resolved["resolvedAt"] is not None and resolved["occurrences"] == 3


async def _two_runs_ended_together(conn: Conn, answered: list[tuple[int, Outcome]]) -> UUID:
    """A schedule whose runs of the first two minutes end in one finish: `answered` gives,
    in the order the answers arrived, each run's minute (0 or 1) and its outcome. Its id."""
    schedule_id = await _schedule(conn, max_attempts=1, overlap_policy="allow_all")
    for minute in range(2):
        await dispatch_once(conn, now=T0 + timedelta(minutes=minute, milliseconds=5), alerts=POLICY)
    started = await start_batch(conn, await _pending(conn), now=T0 + timedelta(minutes=1))
    by_minute = sorted(started, key=lambda attempt: attempt.scheduled_at)
    ended = T0 + timedelta(minutes=1, seconds=1)
    answers = [Answer(by_minute[minute], outcome, ended) for minute, outcome in answered]
    await finish_batch(conn, answers, alerts=POLICY)
    return schedule_id


async def test_a_failure_and_a_success_ended_together_open_and_resolve_run_failed(
    conn: Conn,
) -> None:
    """Successes of a schedule with nothing open make no incident event (the steady case: no
    fold, no query), but one that ends in the same finish as a failure of its schedule, after
    it, resolves the run.failed that failure opened; later successes, with nothing open
    again, leave the incident alone."""
    await _channel(conn)
    schedule_id = await _two_runs_ended_together(conn, [(0, FAILED), (1, OK)])
    [incident] = await _incidents(conn, schedule_id)
    assert (incident["kind"], incident["state"]) == ("run.failed", "resolved")
    # Both announced in one transaction: the same created_at, so no order to compare.
    assert sorted(d["event_type"] for d in await _deliveries(conn)) == [
        "incident.opened",
        "incident.resolved",
    ]
    await _run_slot(conn, 2, OK)
    assert [i["state"] for i in await _incidents(conn, schedule_id)] == ["resolved"]


async def test_a_success_then_a_failure_ended_together_leave_run_failed_open(
    conn: Conn,
) -> None:
    """Two runs answered against their slots' order, the later one's success first: the runs
    end in the order of their answers (finish_batch sorts the update's rows by them, whatever
    the update's plan returns), so the failure comes last and its run.failed stays open."""
    schedule_id = await _two_runs_ended_together(conn, [(1, OK), (0, FAILED)])
    [incident] = await _incidents(conn, schedule_id)
    assert (incident["kind"], incident["state"]) == ("run.failed", "open")


async def test_a_deleted_schedule_s_incident_is_not_reopened(conn: Conn) -> None:
    """A failure of a run still in flight when its schedule was deleted (the delete resolved
    its incidents) reopens nothing, however recently its incident was announced: nothing
    would resolve it again."""
    schedule_id = await _schedule(conn, max_attempts=1)
    await _channel(conn)
    await _run_slot(conn, 0, FAILED)
    service = ScheduleService(conn, "acme", clock=lambda: T0 + timedelta(minutes=1), alerts=POLICY)
    await service.delete(schedule_id)
    failed = [IncidentEvent(schedule_id, "run.failed", "open")]
    async with conn.transaction():
        await record_events(conn, failed, POLICY, now=T0 + timedelta(minutes=2))
    assert [i["state"] for i in await _incidents(conn, schedule_id)] == ["resolved"]


async def test_channels_get_only_their_kinds_and_schedules(conn: Conn) -> None:
    watched = await _schedule(conn, max_attempts=1)
    other = await _schedule(conn, max_attempts=1, workflow_id="other")
    only_missed = await _channel(conn, events=["slot.missed"])
    cursor = await conn.execute(
        "INSERT INTO alert_channels (tenant, name, kind, address, events, schedule_ids) "
        "VALUES ('acme', 'mail', 'email', 'ops@example.com', '{run.failed}', %s) RETURNING id",
        ([watched],),
    )
    only_watched = (await cursor.fetchone() or {})["id"]
    await _run_slot(conn, 0, FAILED)
    sent = await _deliveries(conn)
    assert [(d["channel_id"], d["payload"]["incident"]["scheduleId"]) for d in sent] == [
        (only_watched, str(watched))
    ]
    assert only_missed not in {d["channel_id"] for d in sent}
    assert len(await _incidents(conn, other)) == 1  # recorded, just not sent anywhere


async def test_pause_after_failures_opens_schedule_paused_and_resume_resolves_it(
    conn: Conn,
) -> None:
    schedule_id = await _schedule(conn, max_attempts=1, pause_after_failures=2)
    await _channel(conn, events=["schedule.paused"])
    await _run_slot(conn, 0, FAILED)
    assert await _deliveries(conn) == []
    await _run_slot(conn, 1, FAILED)
    kinds = {i["kind"]: i for i in await _incidents(conn, schedule_id)}
    assert kinds["schedule.paused"]["state"] == "open"
    assert kinds["schedule.paused"]["last_execution_id"] is not None
    service = ScheduleService(conn, "acme", clock=lambda: T0 + timedelta(minutes=5), alerts=POLICY)
    await service.resume(schedule_id, None)
    kinds = {i["kind"]: i for i in await _incidents(conn, schedule_id)}
    assert kinds["schedule.paused"]["state"] == "resolved"
    assert kinds["run.failed"]["state"] == "open"  # resuming does not make runs succeed
    assert [d["event_type"] for d in await _deliveries(conn)] == [
        "incident.opened",
        "incident.resolved",
    ]


async def test_missed_slots_open_slot_missed_and_an_on_time_fire_resolves_it(conn: Conn) -> None:
    schedule_id = await _schedule(conn, misfire_policy="skip", overlap_policy="allow_all")
    await _channel(conn)
    # The dispatcher was away for ten minutes: the slots it finds past their grace are missed.
    await dispatch_once(conn, now=T0 + timedelta(minutes=10, seconds=30), alerts=POLICY)
    [incident] = await _incidents(conn, schedule_id)
    assert (incident["kind"], incident["state"]) == ("slot.missed", "open")
    assert incident["occurrences"] >= 10
    await dispatch_once(conn, now=T0 + timedelta(minutes=11, milliseconds=5), alerts=POLICY)
    [incident] = await _incidents(conn, schedule_id)
    assert incident["state"] == "open", "resolved when the on-time run ends, not when it fires"
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE trigger_id = %s AND status = 'pending'"
        " AND trigger = 'schedule'",
        (schedule_id,),
    )
    on_time = [r["id"] for r in await cursor.fetchall()]
    attempts = await start_batch(conn, on_time, now=T0 + timedelta(minutes=11, seconds=1))
    ok = Outcome("succeeded", 200, None, None, None, 3)
    await finish_batch(
        conn, [Answer(a, ok, T0 + timedelta(minutes=11, seconds=2)) for a in attempts]
    )
    [incident] = await _incidents(conn, schedule_id)
    assert incident["state"] == "resolved"
    assert [d["event_type"] for d in await _deliveries(conn)] == [
        "incident.opened",
        "incident.resolved",
    ]


async def test_flapping_is_announced_at_most_once_per_interval(conn: Conn) -> None:
    schedule_id = await _schedule(conn)
    await _channel(conn)
    fail = [IncidentEvent(schedule_id, "run.failed", "open")]
    clear = [IncidentEvent(schedule_id, "run.failed", "resolve")]

    async def at(minutes: float, events: list[IncidentEvent]) -> None:
        async with conn.transaction():
            await record_events(conn, events, POLICY, now=T0 + timedelta(minutes=minutes))

    await at(0, fail)  # announced: opened
    await at(1, clear)  # announced: resolved (the pair)
    await at(2, fail)  # within 5 min of the opening: the same incident, reopened, silent
    await at(3, clear)  # its reopening was never announced: silent
    await at(4, fail)  # silent again
    [incident] = await _incidents(conn, schedule_id)
    assert incident["state"] == "open" and incident["occurrences"] == 3
    assert len(await _deliveries(conn)) == 2
    await at(6, fail)  # still open after the interval: its opening is announced now
    await at(7, clear)  # and so is its resolution
    await at(20, fail)  # long after: a new incident
    sent = await _deliveries(conn)
    assert [d["event_type"] for d in sent] == [
        "incident.opened",
        "incident.resolved",
        "incident.opened",
        "incident.resolved",
        "incident.opened",
    ]
    ids = [d["payload"]["incident"]["id"] for d in sent]
    assert len(set(ids[:4])) == 1 and ids[4] != ids[0]


async def test_a_held_opening_is_announced_by_the_watcher_once_due(conn: Conn) -> None:
    schedule_id = await _schedule(conn, cron_expression="0 0 1 1 *")  # not late in this test
    await _channel(conn)
    for minutes, action in ((0, "open"), (1, "resolve"), (2, "open")):
        async with conn.transaction():
            await record_events(
                conn,
                [IncidentEvent(schedule_id, "run.failed", action)],  # type: ignore[arg-type]
                POLICY,
                now=T0 + timedelta(minutes=minutes),
            )
    assert len(await _deliveries(conn)) == 2
    assert (await watch_once(conn, POLICY, now=T0 + timedelta(minutes=4))).held_announced == 0
    watched = await watch_once(conn, POLICY, now=T0 + timedelta(minutes=5))
    assert watched.held_announced == 1
    assert [d["event_type"] for d in await _deliveries(conn)][-1] == "incident.opened"
    assert (await watch_once(conn, POLICY, now=T0 + timedelta(minutes=9))).held_announced == 0


async def test_the_watcher_sees_a_slot_nobody_fired(conn: Conn) -> None:
    schedule_id = await _schedule(conn, late_after_seconds=60)
    await _channel(conn, events=["run.late"])
    # Nothing dispatched (every worker down): the slot of T0 is late once 60 s have passed.
    assert (await watch_once(conn, POLICY, now=T0 + timedelta(seconds=59))).late == 0
    watched = await watch_once(conn, POLICY, now=T0 + timedelta(seconds=61))
    assert (watched.ran, watched.late, watched.recorded.opened) == (True, 1, 1)
    [incident] = await _incidents(conn, schedule_id, "run.late")
    assert incident["state"] == "open" and incident["last_execution_id"] is None
    # Still late on the next pass: no second occurrence, no second delivery.
    await watch_once(conn, POLICY, now=T0 + timedelta(seconds=65))
    [incident] = await _incidents(conn, schedule_id, "run.late")
    assert incident["occurrences"] == 1 and len(await _deliveries(conn)) == 1
    # A worker is back: the schedule fires again and its run starts; the next pass resolves.
    await dispatch_once(conn, now=T0 + timedelta(seconds=70), alerts=POLICY)
    [run] = await _pending(conn)
    await start_batch(conn, [run], now=T0 + timedelta(seconds=70))
    await watch_once(conn, POLICY, now=T0 + timedelta(seconds=71))
    [incident] = await _incidents(conn, schedule_id, "run.late")
    assert incident["state"] == "resolved"
    assert [d["event_type"] for d in await _deliveries(conn)] == [
        "incident.opened",
        "incident.resolved",
    ]


async def test_the_watcher_sees_a_run_nobody_started(conn: Conn) -> None:
    schedule_id = await _schedule(conn, late_after_seconds=30, cron_expression="0 * * * *")
    await _channel(conn, events=["run.late"])
    # Fired on time, but every worker is frozen: nobody starts the run.
    await dispatch_once(conn, now=T0 + timedelta(milliseconds=5), alerts=POLICY)
    [run] = await _pending(conn)
    assert (await watch_once(conn, POLICY, now=T0 + timedelta(seconds=29))).late == 0
    await watch_once(conn, POLICY, now=T0 + timedelta(seconds=31))
    [incident] = await _incidents(conn, schedule_id, "run.late")
    assert incident["state"] == "open" and incident["last_execution_id"] == run
    await start_batch(conn, [run], now=T0 + timedelta(seconds=40))
    await watch_once(conn, POLICY, now=T0 + timedelta(seconds=41))
    [incident] = await _incidents(conn, schedule_id, "run.late")
    assert incident["state"] == "resolved"


async def _pending(conn: Conn) -> list[UUID]:
    cursor = await conn.execute(
        "SELECT id FROM workflow_schedule_executions WHERE status = 'pending' ORDER BY scheduled_at"
    )
    return [r["id"] for r in await cursor.fetchall()]


async def test_incidents_are_read_per_tenant_and_paginated(conn: Conn) -> None:
    ids = [await _schedule(conn, workflow_id=f"wf-{n}") for n in range(3)]
    theirs = await _schedule(conn, tenant="globex")
    async with conn.transaction():
        await record_events(
            conn,
            [IncidentEvent(i, "run.failed", "open") for i in [*ids, theirs]],
            POLICY,
            now=T0,
        )
    service = IncidentService(conn, "acme")
    first = await service.list(limit=2)
    assert len(first.items) == 2 and first.next_cursor is not None
    rest = await service.list(limit=2, cursor=first.next_cursor)
    assert rest.next_cursor is None
    seen = {i.trigger_id for i in first.items + rest.items}
    assert seen == set(ids)
    assert [i.trigger_id for i in (await service.list(schedule_id=ids[1])).items] == [ids[1]]
    assert (await service.list(state="resolved")).items == []
    assert await service.open_count() == 3
    [their_incident] = (await IncidentService(conn, "globex").list()).items
    with pytest.raises(IncidentNotFound):
        await service.get(their_incident.id)


async def test_scheduler_incidents_prints_them(conn: Conn, database_url: str) -> None:
    ours = await _schedule(conn, workflow_id="nightly-report")
    theirs = await _schedule(conn, tenant="globex", workflow_id="their-job")
    async with conn.transaction():
        await record_events(
            conn,
            [
                IncidentEvent(ours, "run.failed", "open"),
                IncidentEvent(theirs, "slot.missed", "open", count=3),
            ],
            POLICY,
            now=T0,
        )
    every = run_cli(database_url, "incidents")
    assert every.returncode == 0, every.stderr
    assert "nightly-report" in every.stdout and "their-job" in every.stdout
    assert "slot.missed" in every.stdout and "2026-05-04 12:00:00Z" in every.stdout
    acme = run_cli(database_url, "incidents", "--tenant", "acme", "--state", "open")
    assert "nightly-report" in acme.stdout and "their-job" not in acme.stdout
    assert (
        run_cli(database_url, "incidents", "--state", "resolved").stdout.strip() == "no incidents"
    )


async def test_metrics_count_incidents_opened_and_open_by_kind(conn: Conn) -> None:
    first, second = await _schedule(conn), await _schedule(conn, workflow_id="b")

    async def at(minutes: float, events: list[IncidentEvent]) -> None:
        async with conn.transaction():
            await record_events(conn, events, POLICY, now=T0 + timedelta(minutes=minutes))

    await at(
        0, [IncidentEvent(first, "run.failed", "open"), IncidentEvent(second, "run.failed", "open")]
    )
    await at(1, [IncidentEvent(first, "run.failed", "resolve")])
    await at(2, [IncidentEvent(first, "run.failed", "open")])  # reopened: not a new one
    await at(3, [IncidentEvent(second, "slot.missed", "open", count=5)])
    await at(4, [IncidentEvent(second, "run.failed", "resolve")])
    await fold(conn)
    text = render(await collect(conn))
    assert 'scheduler_incidents_opened_total{kind="run.failed"} 2' in text
    assert 'scheduler_incidents_opened_total{kind="slot.missed"} 1' in text
    assert 'scheduler_incidents_opened_total{kind="run.late"} 0' in text
    assert 'scheduler_incidents_open{kind="run.failed"} 1' in text
    assert 'scheduler_incidents_open{kind="slot.missed"} 1' in text


async def test_deleting_a_schedule_resolves_its_incidents_and_a_patch_resume_too(
    conn: Conn,
) -> None:
    deleted, patched = await _schedule(conn), await _schedule(conn, workflow_id="p")
    await _channel(conn)
    async with conn.transaction():
        await record_events(
            conn,
            [
                IncidentEvent(deleted, "run.failed", "open"),
                IncidentEvent(deleted, "slot.missed", "open"),
                IncidentEvent(patched, "schedule.paused", "open"),
            ],
            POLICY,
            now=T0,
        )
    service = ScheduleService(conn, "acme", clock=lambda: T0 + timedelta(minutes=1), alerts=POLICY)
    await service.pause(patched, "by hand")
    await service.delete(deleted)
    assert {i["state"] for i in await _incidents(conn, deleted)} == {"resolved"}
    assert (await _incidents(conn, patched))[0]["state"] == "open"  # paused by hand: still
    await service.update(patched, {"enabled": True})
    assert (await _incidents(conn, patched))[0]["state"] == "resolved"
    assert sorted(d["event_type"] for d in await _deliveries(conn)) == [
        *["incident.opened"] * 3,
        *["incident.resolved"] * 3,
    ]


async def test_the_tables_allow_exactly_the_domains_kinds_and_states(conn: Conn) -> None:
    cursor = await conn.execute(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = 'alert_incidents'::regclass AND contype = 'c'"
    )
    checks = " ".join(r["def"] for r in await cursor.fetchall())
    for value in [*rules.KINDS, *rules.STATES]:
        assert f"'{value}'" in checks
    allowed = set(re.findall(r"'([a-z.]+)'::text", checks))
    assert allowed == {*rules.KINDS, *rules.STATES}


async def test_concurrent_writers_open_one_incident_per_schedule(
    conn: Conn, database_url: str
) -> None:
    schedules = [await _schedule(conn, workflow_id=f"wf-{n}") for n in range(20)]
    await _channel(conn)

    async def writer(seed: int) -> None:
        order = random.Random(seed).sample(schedules, len(schedules))
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as own:
            for start in range(0, len(order), 5):  # several transactions, overlapping sets
                async with own.transaction():
                    events = [IncidentEvent(s, "run.failed", "open") for s in order[start:]]
                    await record_events(own, events, POLICY)

    await asyncio.gather(*(writer(seed) for seed in range(8)))
    cursor = await conn.execute(
        "SELECT trigger_id, count(*) AS n, sum(occurrences) AS occurrences "
        "FROM alert_incidents GROUP BY trigger_id"
    )
    rows = await cursor.fetchall()
    assert len(rows) == 20 and all(r["n"] == 1 for r in rows)
    assert sum(r["occurrences"] for r in rows) == 8 * (20 + 15 + 10 + 5)
    assert [d["event_type"] for d in await _deliveries(conn)] == ["incident.opened"] * 20
