"""The batch service on a real database: the single create's rules, a thousand rows at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.quotas import TenantQuotas
from app.errors import QuotaExceeded
from app.services.batch import Draft, upsert_batch
from app.services.schedules import ScheduleService
from db.types import Conn

NOW = datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def service(conn: Conn) -> ScheduleService:
    return ScheduleService(conn, "acme", clock=lambda: NOW)


async def test_a_thousand_creates_match_single_creates(service: ScheduleService) -> None:
    zones = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]
    drafts = [
        Draft(
            i,
            {
                "workflow_id": f"wf-{i}",
                "cron_expression": f"{i % 60} */2 * * *",
                "timezone": zones[i % 4],
                "jitter_seconds": i % 7,
                "input": {"n": i},
            },
        )
        for i in range(1_000)
    ]
    results = await upsert_batch(service, drafts)
    assert [r.outcome for r in results] == ["created"] * 1_000
    for draft, result in list(zip(drafts, results, strict=True))[::97]:
        stored = await service.get(result.id)  # type: ignore[arg-type]
        alone = await service.create(dict(draft.fields))
        assert (stored.state, stored.next_run_at, stored.input) == (
            alone.state,
            alone.next_run_at,
            alone.input,
        )
        assert stored.next_fire_at is not None and stored.next_run_at is not None
        assert 0 <= (stored.next_fire_at - stored.next_run_at).total_seconds() < 7
    cursor = await service.conn.execute(
        "SELECT count(*) AS n FROM workflow_run_specs WHERE tenant = 'acme'"
    )
    row = await cursor.fetchone()
    assert row is not None and row["n"] >= 1_000  # the insert trigger made their run specs


async def test_updates_move_the_slot_only_when_timing_changes(service: ScheduleService) -> None:
    first = await upsert_batch(
        service,
        [
            Draft(0, {"workflow_id": "a", "cron_expression": "*/5 * * * *"}),
            Draft(1, {"workflow_id": "b", "cron_expression": "*/5 * * * *"}),
        ],
    )
    a, b = (r.id for r in first)
    before_a = await service.get(a)  # type: ignore[arg-type]
    second = await upsert_batch(
        service,
        [
            Draft(0, {"id": a, "workflow_id": "a", "cron_expression": "*/5 * * * *", "input": {}}),
            Draft(1, {"id": b, "workflow_id": "b", "cron_expression": "0 13 * * *"}),
            Draft(2, {"id": a, "workflow_id": "again", "cron_expression": "* * * * *"}),
        ],
    )
    assert [r.outcome for r in second] == ["unchanged", "updated", "error"]
    assert (await service.get(a)) == before_a  # type: ignore[arg-type]
    moved = await service.get(b)  # type: ignore[arg-type]
    assert moved.next_run_at == datetime(2026, 3, 7, 13, 0, tzinfo=UTC)
    assert moved.version == 2
    third = await upsert_batch(
        service,
        [
            Draft(
                0, {"id": b, "workflow_id": "b", "cron_expression": "0 13 * * *", "max_attempts": 5}
            )
        ],
    )
    assert third[0].outcome == "updated"
    kept = await service.get(b)  # type: ignore[arg-type]
    assert (kept.next_run_at, kept.max_attempts, kept.version) == (moved.next_run_at, 5, 3)


async def test_quota_counts_only_creates(service: ScheduleService) -> None:
    limited = ScheduleService(
        service.conn, "acme", clock=lambda: NOW, quotas=TenantQuotas(max_schedules=3)
    )
    made = await upsert_batch(
        limited, [Draft(i, {"workflow_id": f"w{i}", "cron_expression": "@daily"}) for i in range(3)]
    )
    # Full: updating all three is fine, one more create refuses the whole batch.
    again = [
        Draft(i, {"id": r.id, "workflow_id": "x", "cron_expression": "@daily"})
        for i, r in enumerate(made)
    ]
    assert [r.outcome for r in await upsert_batch(limited, again)] == ["updated"] * 3
    with pytest.raises(QuotaExceeded, match="you store 3"):
        await upsert_batch(
            limited, [*again[:1], Draft(9, {"workflow_id": "new", "cron_expression": "@daily"})]
        )
    assert (await limited.get(made[0].id)).workflow_id == "x"  # type: ignore[arg-type]


async def test_concurrent_batches_naming_the_same_ids(database_url: str) -> None:
    """Two batches of one tenant over the same 200 ids, in opposite orders, at once: no deadlock
    (rows are inserted and locked in id order), every id ends up created exactly once, and each
    item of the batch that lost a race says so (conflict) or updated the winner's row."""
    ids = [uuid4() for _ in range(200)]

    async def run(order: list[UUID], workflow: str) -> list[str]:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            service = ScheduleService(conn, "acme", clock=lambda: NOW)
            drafts = [
                Draft(i, {"id": sid, "workflow_id": workflow, "cron_expression": "@hourly"})
                for i, sid in enumerate(order)
            ]
            return [r.outcome for r in await upsert_batch(service, drafts)]

    first, second = await asyncio.gather(run(ids, "one"), run(ids[::-1], "two"))
    assert first.count("created") + second.count("created") == 200
    assert set(first) | set(second) <= {"created", "updated", "error"}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute("SELECT count(*) FROM workflow_schedules")
        assert await cursor.fetchone() == (200,)
