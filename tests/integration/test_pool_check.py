"""The pools' check at checkout (db/pool.py): a connection the server ended while it sat
idle is replaced, not handed out; a healthy one is handed out without a round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from db.pool import create_pool
from db.types import Pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    opened = create_pool(database_url, min_size=1, max_size=1, name="test-pool-check")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _backend(pool: Pool, marker: str) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute(f"SELECT pg_backend_pid() AS pid, '{marker}' AS marker")
        row = await cursor.fetchone()
        assert row is not None
        return int(row["pid"])


async def _activity(database_url: str, pid: int) -> dict[str, Any] | None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT state, query FROM pg_stat_activity WHERE pid = %s", (pid,)
        )
        row = await cursor.fetchone()
        return None if row is None else {"state": row[0], "query": row[1]}


async def test_a_connection_ended_by_the_server_while_idle_is_replaced(
    pool: Pool, database_url: str
) -> None:
    before = await _backend(pool, "before")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        # Waits until the backend is gone (10 s at most): its last words are on the socket.
        cursor = await admin.execute("SELECT pg_terminate_backend(%s, 10000)", (before,))
        assert await cursor.fetchone() == (True,)
    after = await _backend(pool, "after")  # no error: the dead connection was not handed out
    assert after != before


async def test_a_healthy_idle_connection_is_handed_out_without_a_round_trip(
    pool: Pool, database_url: str
) -> None:
    pid = await _backend(pool, "the last statement")
    for _ in range(3):
        async with pool.connection() as conn:
            assert conn.pgconn.backend_pid == pid
    # The server saw nothing since the last statement (a check by round trip sends an empty
    # query, which pg_stat_activity shows as the backend's last).
    activity = await _activity(database_url, pid)
    assert activity is not None
    assert activity["state"] == "idle"
    assert "the last statement" in activity["query"]


async def test_connections_keep_alive_unless_the_url_says_otherwise(database_url: str) -> None:
    """A server gone without a word is noticed by the kernel's keepalives on the socket the
    checkout looks at; a URL's own settings win."""
    for url, idle in [(database_url, "30"), (f"{database_url}?keepalives_idle=7", "7")]:
        opened = create_pool(url, min_size=1, max_size=1, name="test-keepalives")
        await opened.open()
        try:
            async with opened.connection() as conn:
                params = conn.info.get_parameters()
                assert params.get("keepalives") == "1"
                assert params.get("keepalives_idle") == idle
        finally:
            await opened.close()
