"""Every connection of ours is in UTC with JIT off, whatever the URL or the server says, and
keeps the URL's other options (db/session.py; the pools and the CLI)."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from db.pool import create_pool
from db.session import configure_session
from db.types import Conn

URL_OPTIONS = "-c statement_timeout=4321 -c TimeZone=Asia/Kathmandu -c jit=on"
EXPECTED = {"statement_timeout": "4321ms", "TimeZone": "UTC", "jit": "off"}


def _with_options(database_url: str) -> str:
    return make_conninfo("", **{**conninfo_to_dict(database_url), "options": URL_OPTIONS})


async def _settings(conn: Conn) -> dict[str, str]:
    cursor = await conn.execute(
        "SELECT current_setting('statement_timeout') AS statement_timeout, "
        "current_setting('TimeZone') AS \"TimeZone\", current_setting('jit') AS jit"
    )
    row = await cursor.fetchone()
    assert row is not None
    return dict(row)


async def test_a_pool_connection_keeps_the_url_options_in_utc_without_jit(
    database_url: str,
) -> None:
    pool = create_pool(_with_options(database_url), max_size=1)
    async with pool, pool.connection() as conn:
        assert await _settings(conn) == EXPECTED


async def test_a_configured_connection_keeps_the_url_options_in_utc_without_jit(
    database_url: str,
) -> None:
    url = _with_options(database_url)
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        assert (await _settings(conn))["TimeZone"] == "Asia/Kathmandu", "the URL's zone first"
        await configure_session(conn)
        assert await _settings(conn) == EXPECTED
