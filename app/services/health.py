"""Readiness: the database answers and its schema is at the head revision."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from db.migrate import head_revision
from db.repositories import health as repo
from db.types import Conn


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    database: str
    migrations: str


@functools.cache
def code_head_revision() -> str:
    """The head revision of the migrations this code ships. Read once per process: it cannot
    change under a running process, and reading it parses every migration script (Alembic's
    ScriptDirectory), synchronously, which `/ready` must not do per request."""
    return head_revision()


async def readiness(conn: Conn) -> Readiness:
    version = await repo.migration_version(conn)
    head = code_head_revision()
    if version != head:
        return Readiness(False, "ok", f"at {version or 'none'}, head is {head}: run migrations")
    return Readiness(True, "ok", "at head")
