"""L7: another tenant's request never locks a schedule row it does not own.

A foreign PATCH/DELETE/pause/resume/register used to take `FOR UPDATE` on the row before
checking the tenant: it waited for the owner's locks and held its own, so a tenant hammering a
known id could delay the owner and hide the row from the dispatcher's `SKIP LOCKED` claim.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from db.repositories import schedules as repo

PAUSED = {"workflowId": "wf", "cronExpression": "0 6 * * *", "enabled": False}


def test_foreign_writes_answer_while_the_owner_holds_the_row(
    client: httpx.Client, other_client: httpx.Client, database_url: str
) -> None:
    """With the owner's transaction holding the row lock, another tenant's writes answer at
    once (404, or 409 for register) instead of queueing behind the lock: they never try to
    lock it. Before the fix each of them waited until the owner's transaction ended."""
    sid = client.post("/api/schedules", json=PAUSED).json()["id"]
    calls: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("PATCH", f"/api/schedules/{sid}", {"pauseNote": "mine"}, 404),
        ("DELETE", f"/api/schedules/{sid}", None, 404),
        ("POST", f"/api/schedules/{sid}/pause", {"note": "mine"}, 404),
        ("POST", f"/api/schedules/{sid}/resume", {"note": "mine"}, 404),
        (
            "POST",
            "/api/scheduler/register",
            {"triggerId": sid, "workflowId": "mine", "cronExpression": "* * * * *"},
            409,
        ),
    ]
    with psycopg.connect(database_url) as owner:  # a transaction stays open until the block ends
        owner.execute("SELECT 1 FROM workflow_schedules WHERE id = %s FOR UPDATE", (sid,))
        for method, path, body, status in calls:
            # The timeout is the deadline of "answers while the lock is held", not a speed bound.
            answer = other_client.request(method, path, json=body, timeout=8)
            assert answer.status_code == status, (method, path, answer.text)
        owner.rollback()
    mine = client.get(f"/api/schedules/{sid}").json()
    assert mine["version"] == 1 and mine["pauseNote"] is None and mine["workflowId"] == "wf"


def test_foreign_lookup_leaves_the_row_free_for_skip_locked(
    client: httpx.Client, database_url: str
) -> None:
    """The query itself: inside another tenant's open transaction, the owner's row is still
    free for a `FOR UPDATE SKIP LOCKED` claim (the dispatcher's way of reading it)."""
    sid = uuid.UUID(client.post("/api/schedules", json=PAUSED).json()["id"])

    async def check() -> None:
        async with (
            await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as foreign,
            foreign.transaction(),
        ):
            assert await repo.get_for_update(foreign, "globex", sid) is None
            with psycopg.connect(database_url, autocommit=True) as claimer:
                free = claimer.execute(
                    "SELECT id FROM workflow_schedules WHERE id = %s FOR UPDATE SKIP LOCKED",
                    (sid,),
                ).fetchall()
            assert free == [(sid,)]
            # The owner's own lookup does lock it.
            assert await repo.get_for_update(foreign, "acme", sid) is not None
            with psycopg.connect(database_url, autocommit=True) as claimer:
                held = claimer.execute(
                    "SELECT id FROM workflow_schedules WHERE id = %s FOR UPDATE SKIP LOCKED",
                    (sid,),
                ).fetchall()
            assert held == []

    asyncio.run(check())
