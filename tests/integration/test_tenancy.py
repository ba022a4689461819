"""What belongs to a run and to a tenant, on a real database (issue 10: M1, L4, H3's storage):
runs keep their own spec, specs are stored once per schedule version, ids are owned."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.errors import Conflict, ValidationFailed
from app.services import keys, tokens
from app.services.attempts import start_batch
from app.services.dispatch import dispatch_once
from app.services.executions import ExecutionService
from app.services.retention import prune
from app.services.schedules import ScheduleService
from app.services.stats import StatsService
from db import migrate
from db.repositories.stats import fold
from db.types import Conn

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
OWN = "http://127.0.0.1:9/allowed"


def _schedules(conn: Conn, tenant: str = "acme") -> ScheduleService:
    return ScheduleService(conn, tenant, target_allowlist=(OWN,), clock=lambda: T0)


async def _one(conn: Conn, sql: str, *params: Any) -> Any:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None
    return next(iter(row.values()))


async def _age_superseded_specs(conn: Conn) -> None:
    """Retention leaves a spec for a minute after it was superseded (a racing insert)."""
    await conn.execute(
        "UPDATE workflow_run_specs SET superseded_at = superseded_at - interval '2 minutes'"
    )


async def test_a_run_keeps_its_own_input_target_and_limits_after_an_edit(conn: Conn) -> None:
    """L4: before, attempts read the schedule's current targetUrl/timeout/maxAttempts/backoff."""
    created = await _schedules(conn).create(
        {
            "workflow_id": "wf",
            "cron_expression": "0 6 * * *",
            "input": {"v": 1},
            "target_url": f"{OWN}/a",
            "timeout_seconds": 7.0,
            "max_attempts": 4,
            "retry_backoff_seconds": 2.0,
        }
    )
    run = await ExecutionService(conn, "acme").trigger(created.id)
    await _schedules(conn).update(
        created.id,
        {
            "input": {"v": 2},
            "target_url": f"{OWN}/b",
            "timeout_seconds": 1.0,
            "max_attempts": 1,
            "retry_backoff_seconds": 60.0,
        },
    )
    [attempt] = await start_batch(conn, [run.id])
    assert (attempt.input, attempt.target_url) == ({"v": 1}, f"{OWN}/a")
    assert (attempt.timeout_seconds, attempt.max_attempts) == (7.0, 4)
    assert attempt.retry_backoff_seconds == 2.0
    # A run created after the edit gets the new version.
    later = await ExecutionService(conn, "acme").trigger(created.id)
    [second] = await start_batch(conn, [later.id])
    assert (second.input, second.target_url, second.max_attempts) == ({"v": 2}, f"{OWN}/b", 1)


async def test_an_input_written_another_way_is_a_new_version(conn: Conn) -> None:
    """jsonb finds 100 and 100.0 equal but keeps and sends each as written: a run made after
    an edit from one to the other sends the new text, in every attempt (the first one is
    built from the schedule by its dispatcher, the others read from the run's spec)."""
    created = await _schedules(conn).create(
        {"workflow_id": "wf", "cron_expression": "0 6 * * *", "input": {"n": 100}}
    )
    await _schedules(conn).update(created.id, {"input": {"n": 100.0}})
    run = await ExecutionService(conn, "acme").trigger(created.id)
    [attempt] = await start_batch(conn, [run.id])
    assert json.dumps(attempt.input) == '{"n": 100.0}'
    assert await _one(conn, "SELECT count(*) FROM workflow_run_specs") == 2


async def test_input_is_stored_once_per_version_and_never_on_skipped_or_missed_rows(
    conn: Conn,
) -> None:
    """H3: before, every row (skipped and missed ones too) carried its own copy of `input`."""
    big = {"pad": "x" * 20_000}
    created = await ScheduleService(conn, "acme", clock=lambda: T0 - timedelta(seconds=1)).create(
        {
            "workflow_id": "wf",
            "cron_expression": "* * * * * *",
            "input": big,
            "misfire_policy": "fire_once",
            "misfire_grace_seconds": 0,
        }
    )
    # 30 s of downtime: 29 missed slots and one catch-up run; then five fires, the first of
    # which is still unfinished so the next ones are skipped (overlap policy skip).
    await dispatch_once(conn, now=T0 + timedelta(seconds=30))
    for second in range(31, 36):
        await dispatch_once(conn, now=T0 + timedelta(seconds=second))
    counts = await conn.execute(
        "SELECT status, count(*) AS n, count(spec_digest) AS with_spec "
        "FROM workflow_schedule_executions WHERE trigger_id = %s GROUP BY status",
        (created.id,),
    )
    by_status = {r["status"]: (r["n"], r["with_spec"]) for r in await counts.fetchall()}
    assert by_status["missed"][1] == 0 and by_status["skipped"][1] == 0
    assert by_status["pending"] == (1, 1)
    assert by_status["missed"][0] + by_status["skipped"][0] >= 30
    assert await _one(conn, "SELECT count(*) FROM workflow_run_specs") == 1
    columns = await conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'workflow_schedule_executions' AND column_name = 'input'"
    )
    assert await columns.fetchall() == [], "no per-row copy of the input any more"


async def test_retention_prunes_superseded_specs_but_keeps_those_unfinished_runs_name(
    conn: Conn,
) -> None:
    """A spec is read for a run's attempts and its workflow's report, never once the run has
    ended (migration 0028): a superseded spec is kept while an unfinished run names it."""
    created = await _schedules(conn).create(
        {"workflow_id": "wf", "cron_expression": "0 6 * * *", "input": {"v": 1}}
    )
    run = await ExecutionService(conn, "acme").trigger(created.id)
    runs = []
    for version in (2, 3, 4):
        await _schedules(conn).update(created.id, {"input": {"v": version}})
        runs.append(await ExecutionService(conn, "acme").trigger(created.id))
    await _schedules(conn).update(created.id, {"input": {"v": 5}})  # no run of v5 yet
    await _schedules(conn).pause(created.id, "a change that is not of the spec")
    assert await _one(conn, "SELECT count(*) FROM workflow_run_specs") == 5
    await conn.execute("DELETE FROM workflow_schedule_executions WHERE id = %s", (run.id,))
    await conn.execute(  # v2's run has ended; v3's waits for its workflow's report; v4's
        # waits for its retry (L4: a retry sends the run's own spec)
        "UPDATE workflow_schedule_executions SET status = CASE id WHEN %s THEN 'succeeded'"
        " WHEN %s THEN 'accepted' ELSE 'retrying' END WHERE id IN (%s, %s, %s)",
        (runs[0].id, runs[1].id, runs[0].id, runs[1].id, runs[2].id),
    )
    await _age_superseded_specs(conn)
    await prune(conn, retention_days=30)
    remaining = await conn.execute("SELECT input FROM workflow_run_specs ORDER BY created_at")
    # v1 is named by no run any more, v2 by an ended run only; v3 and v4 by unfinished runs
    # (accepted, retrying); v5 is the schedule's current spec.
    assert [r["input"] for r in await remaining.fetchall()] == [{"v": 3}, {"v": 4}, {"v": 5}]


async def test_a_superseded_spec_is_kept_for_a_minute_counted_from_the_given_now(
    conn: Conn,
) -> None:
    """Retention's minute is measured on the instant it is given, not the database clock."""
    created = await _schedules(conn).create(
        {"workflow_id": "wf", "cron_expression": "0 6 * * *", "input": {"v": 1}}
    )
    await _schedules(conn).update(created.id, {"input": {"v": 2}})
    superseded = await _one(
        conn, "SELECT superseded_at FROM workflow_run_specs WHERE superseded_at IS NOT NULL"
    )
    await prune(conn, retention_days=30, now=superseded + timedelta(seconds=59))
    assert await _one(conn, "SELECT count(*) FROM workflow_run_specs") == 2
    await prune(conn, retention_days=30, now=superseded + timedelta(seconds=61))
    remaining = await conn.execute("SELECT input FROM workflow_run_specs")
    assert [r["input"] for r in await remaining.fetchall()] == [{"v": 2}]


async def test_another_tenant_cannot_take_a_deleted_id_until_nothing_of_it_is_left(
    conn: Conn,
) -> None:
    """M1: before, B's create of A's deleted id succeeded and inherited A's statistics (and
    A's waiting runs, its slots and its Idempotency-Keys)."""
    sid = uuid4()
    a = _schedules(conn, "acme")
    await a.create({"id": sid, "workflow_id": "wf", "cron_expression": "0 6 * * *"})
    waiting = await ExecutionService(conn, "acme").trigger(sid)
    await fold(conn)
    await a.delete(sid)
    cancelled = await ExecutionService(conn, "acme").get(waiting.id)
    assert cancelled.status == "cancelled", "a deleted schedule's waiting runs are not sent"

    b = _schedules(conn, "globex")
    for attempt in (
        b.create({"id": sid, "workflow_id": "mine", "cron_expression": "0 7 * * *"}),
        b.register({"id": sid, "workflow_id": "mine", "cron_expression": "0 7 * * *"}),
    ):
        with pytest.raises(Conflict):
            await attempt
    # A keeps its id: re-creating it is allowed, with its own history.
    again = await a.create({"id": sid, "workflow_id": "wf", "cron_expression": "0 6 * * *"})
    assert (await StatsService(conn, "acme").of_schedule(again)).total == 1
    await a.delete(sid)

    # Once the history is gone (retention), the id is free, and nothing of A's is left for B.
    await conn.execute("DELETE FROM workflow_schedule_executions WHERE trigger_id = %s", (sid,))
    await fold(conn)
    await _age_superseded_specs(conn)
    await prune(conn, retention_days=30)  # specs of the deleted schedule
    await prune(conn, retention_days=30)  # then the id
    taken = await b.create({"id": sid, "workflow_id": "mine", "cron_expression": "0 7 * * *"})
    assert taken.tenant == "globex"
    stats = await StatsService(conn, "globex").of_schedule(taken)
    assert stats.total == 0 and not any(stats.counts.values()), stats
    created, existing = await _backfill_counts(conn, "globex", sid)
    assert (created, existing) == (3, 0), "B's backfill creates its own runs"


async def test_retention_looks_only_at_owners_of_deleted_schedules(conn: Conn) -> None:
    """The release of ids reads the list of deleted schedules' ids, not one owner row per
    schedule ever created (issue 13: ~8.5 s a pass with 1,000,000 stored). Another tenant's
    attempt (409) leaves an id on it, the owner's own create takes it off, its delete puts it
    back, and the id goes (with its place on the list) once nothing of it is left."""
    a, b = _schedules(conn, "acme"), _schedules(conn, "globex")
    kept, gone = uuid4(), uuid4()
    for sid in (kept, gone):
        await a.create({"id": sid, "workflow_id": "wf", "cron_expression": "0 6 * * *"})

    async def marked() -> set[UUID]:
        cursor = await conn.execute("SELECT id FROM workflow_schedule_ids_deleted")
        return {row["id"] for row in await cursor.fetchall()}

    assert await marked() == set()
    await a.delete(gone)
    assert await marked() == {gone}
    with pytest.raises(Conflict):
        await b.create({"id": gone, "workflow_id": "mine", "cron_expression": "0 7 * * *"})
    assert await marked() == {gone}
    await a.create({"id": gone, "workflow_id": "wf", "cron_expression": "0 6 * * *"})
    assert await marked() == set()
    await a.delete(gone)
    assert await marked() == {gone}

    await _age_superseded_specs(conn)
    await prune(conn, retention_days=30)  # the specs of the deleted schedule
    await prune(conn, retention_days=30)  # then its id
    cursor = await conn.execute("SELECT id FROM workflow_schedule_owners")
    assert {row["id"] for row in await cursor.fetchall()} == {kept}
    assert await marked() == set()


async def _backfill_counts(conn: Conn, tenant: str, sid: UUID) -> tuple[int, int]:
    result = await ExecutionService(conn, tenant).backfill(
        sid, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 4, tzinfo=UTC)
    )
    return result.created, result.existing


async def test_concurrent_first_uses_of_one_id_give_it_to_one_tenant(
    database_url: str, conn: Conn
) -> None:

    sid = uuid4()

    async def create(tenant: str) -> str:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as own:
            try:
                await _schedules(own, tenant).create(
                    {"id": sid, "workflow_id": "wf", "cron_expression": "0 6 * * *"}
                )
            except Conflict:
                return "409"
            return tenant

    results = await asyncio.gather(*(create(t) for t in ("acme", "globex", "initech", "umbrella")))
    winners = [r for r in results if r != "409"]
    assert len(winners) == 1
    owner = await _one(conn, "SELECT tenant FROM workflow_schedule_owners WHERE id = %s", sid)
    assert owner == winners[0]


def test_migration_0005_moves_existing_inputs_into_specs_and_back(
    empty_database_url: str,
) -> None:
    """Existing rows are backfilled: runs get specs (skipped/missed none), ids get owners (and
    0014 lists those whose schedule is gone), tenants get keys; the downgrade gives every row
    its input back."""

    url = empty_database_url
    migrate.upgrade(url, "0004")
    sid, gone = uuid4(), uuid4()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, input, "
            "target_url, max_attempts, next_run_at, next_fire_at) VALUES "
            "(%s, 'acme', 'wf', '0 6 * * *', '{\"v\": 2}', 'http://t/x', 5, now(), now())",
            (sid,),
        )
        db.execute(
            "INSERT INTO api_tokens (id, tenant, name, secret_sha256) "
            "VALUES (%s, 'initech', 'ci', '\\x00')",
            (uuid4(),),
        )
        for trigger, status, value, minute in [
            (sid, "succeeded", 1, 1),
            (sid, "retrying", 2, 2),
            (sid, "skipped", 2, 3),
            (gone, "failed", 9, 1),
        ]:
            db.execute(
                "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, "
                "scheduled_at, status, input) VALUES (%s, 'wf', 'acme', %s, %s, %s)",
                (
                    trigger,
                    T0 + timedelta(minutes=minute),
                    status,
                    Jsonb({"v": value}),
                ),
            )
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT e.status, p.input, p.target_url, p.max_attempts, p.superseded_at IS NULL "
            "FROM workflow_schedule_executions e LEFT JOIN workflow_run_specs p "
            "ON p.digest = e.spec_digest ORDER BY e.trigger_id = %s DESC, e.scheduled_at",
            (sid,),
        ).fetchall()
        assert rows == [
            ("succeeded", {"v": 1}, "http://t/x", 5, False),
            ("retrying", {"v": 2}, "http://t/x", 5, True),  # the schedule's current spec
            ("skipped", None, None, None, True),  # no spec
            ("failed", {"v": 9}, None, 3, False),  # schedule gone: defaults
        ]
        owners = db.execute("SELECT id, tenant FROM workflow_schedule_owners").fetchall()
        assert sorted(owners) == sorted([(sid, "acme"), (gone, "acme")])
        # 0014: an id with history but no schedule is one retention may release.
        listed = db.execute("SELECT id FROM workflow_schedule_ids_deleted").fetchall()
        assert listed == [(gone,)]
        keys = db.execute("SELECT tenant, secret FROM tenant_signing_keys").fetchall()
        assert sorted(t for t, _ in keys) == ["acme", "initech"]
        assert all(s.startswith("whsec_") and len(s) == 50 for _, s in keys)
    migrate.downgrade(url, "0004")
    with psycopg.connect(url, autocommit=True) as db:
        inputs = db.execute(
            "SELECT input FROM workflow_schedule_executions ORDER BY trigger_id = %s DESC, "
            "scheduled_at",
            (sid,),
        ).fetchall()
        assert [i for (i,) in inputs] == [{"v": 1}, {"v": 2}, {}, {"v": 9}]


def test_migrations_0025_0026_give_a_schedule_the_spec_its_input_text_was_denied(
    empty_database_url: str,
) -> None:
    """Before 0025 an edit from {"n": 100} to {"n": 100.0} kept the old spec current; 0026
    makes the schedule's own text its current spec, and the downgrades run."""
    url = empty_database_url
    migrate.upgrade(url, "0024")
    sid = uuid4()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, input, "
            "next_run_at, next_fire_at) VALUES "
            "(%s, 'acme', 'wf', '0 6 * * *', '{\"n\": 100}', now(), now())",
            (sid,),
        )
        db.execute("UPDATE workflow_schedules SET input = '{\"n\": 100.0}' WHERE id = %s", (sid,))
        current = "SELECT input::text FROM workflow_run_specs WHERE superseded_at IS NULL"
        assert db.execute(current).fetchall() == [('{"n": 100}',)]  # what 0025 repairs
        migrate.upgrade(url)
        assert db.execute(current).fetchall() == [('{"n": 100.0}',)]
    migrate.downgrade(url, "0024")


async def test_tenant_keys_are_created_once_and_rotate_with_a_grace_period(conn: Conn) -> None:
    assert await keys.valid_keys(conn, "acme") == []
    await tokens.create(conn, "acme", "first")
    await tokens.create(conn, "acme", "second")  # same tenant: still one key
    [first] = await keys.valid_keys(conn, "acme")
    assert first.secret.startswith("whsec_") and first.expires_at is None
    await tokens.create(conn, "globex", "ci")
    [other] = await keys.valid_keys(conn, "globex")
    assert other.secret != first.secret

    rotated = await keys.rotate(conn, "acme", grace_seconds=600)
    assert [k.secret for k in rotated][1:] == [first.secret]
    assert rotated[0].expires_at is None and rotated[1].expires_at is not None
    with pytest.raises(ValidationFailed):
        await keys.rotate(conn, "acme", grace_seconds=-1)
    final = await keys.rotate(conn, "acme", grace_seconds=0)
    assert len(final) == 1 and final[0].secret not in (first.secret, rotated[0].secret)
    assert [k.secret for k in await keys.valid_keys(conn, "globex")] == [other.secret]


async def test_a_rotated_out_key_signs_until_its_grace_ends(conn: Conn) -> None:
    t0 = datetime(2020, 3, 1, 12, 0, tzinfo=UTC)  # long before the database clock
    await keys.ensure(conn, "acme")
    [first] = await keys.valid_keys(conn, "acme", now=t0)
    rotated = await keys.rotate(conn, "acme", grace_seconds=600, now=t0)
    assert rotated[1].secret == first.secret and rotated[1].expires_at == t0 + timedelta(minutes=10)
    during = await keys.valid_keys(conn, "acme", now=t0 + timedelta(seconds=599))
    assert [k.secret for k in during] == [k.secret for k in rotated]
    after = await keys.valid_keys(conn, "acme", now=t0 + timedelta(seconds=600))
    assert [k.secret for k in after] == [rotated[0].secret]
    # A shorter grace than the one running shortens it; an expired key is forgotten.
    again = await keys.rotate(conn, "acme", grace_seconds=0, now=t0 + timedelta(seconds=601))
    assert len(again) == 1
    stored = await conn.execute(
        "SELECT count(*) AS n FROM tenant_signing_keys WHERE tenant = 'acme'"
    )
    row = await stored.fetchone()
    assert row is not None and row["n"] == 2, "the first key is gone; the second expires at once"
