"""Readiness: the database answers and its schema is at the head revision."""

from __future__ import annotations

from dataclasses import dataclass

from db.migrate import head_revision
from db.repositories import health as repo
from db.types import Conn


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    database: str
    migrations: str


async def readiness(conn: Conn) -> Readiness:
    version = await repo.migration_version(conn)
    head = head_revision()
    if version != head:
        return Readiness(False, "ok", f"at {version or 'none'}, head is {head}: run migrations")
    return Readiness(True, "ok", "at head")
