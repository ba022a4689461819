"""Named SQL queries, loaded once from db/queries/*.sql.

A file holds blocks that start with `-- name: <query_name>`; the text up to the next such line is
the query (psycopg `%(param)s` placeholders; `%(param)b` sends a value in binary, which the
bulk statements of a fire use for their arrays: psycopg dumps arrays of uuids and timestamps
as text in Python, an order of magnitude slower). Runtime code never builds SQL from strings:
it asks for a query by name. Names are noun-first (`schedule_get`, `execution_insert_if_absent`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from psycopg import sql

from db.types import Conn, Params, Row

QUERIES_DIR = Path(__file__).parent / "queries"
_NAME_LINE = re.compile(r"^-- name: (?P<name>[a-z0-9_]+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split one file's text into {name: query}."""
    found: dict[str, str] = {}
    matches = list(_NAME_LINE.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        name = match.group("name")
        if name in found:
            raise ValueError(f"query {name!r} is defined twice")
        found[name] = body.rstrip(";").strip()
    return found


@cache
def all_queries() -> dict[str, sql.SQL]:
    queries: dict[str, sql.SQL] = {}
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        for name, text in parse_queries(path.read_text()).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined in two files")
            queries[name] = sql.SQL(text)  # trusted: our own files, not input
    return queries


def query(name: str) -> sql.SQL:
    """The query called `name`; KeyError names it when it does not exist."""
    try:
        return all_queries()[name]
    except KeyError:
        raise KeyError(f"no SQL query named {name!r} in {QUERIES_DIR}") from None


async def execute(conn: Conn, name: str, params: Params | None = None) -> None:
    """Run query `name` with `params`, for its effect (its rows, if any, are not read)."""
    await conn.execute(query(name), params)


async def fetch_one(conn: Conn, name: str, params: Params | None = None) -> Row | None:
    """The first row of query `name` run with `params`; None when it returns no row."""
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchone() if cursor.description else None


async def fetch_all(conn: Conn, name: str, params: Params | None = None) -> list[Row]:
    """Every row of query `name` run with `params` (none for a statement without RETURNING)."""
    cursor = await conn.execute(query(name), params)
    return await cursor.fetchall() if cursor.description else []
