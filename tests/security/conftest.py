"""Fixtures for the hostile-input and security tests: the real API on loopback over a fresh
migrated database (tests/conftest.py), clients of two tenants, a recording target and workers.

The suite's fixtures (tests/conftest.py) are used as they are; only `settings` differs: its
allowlist names one loopback prefix and one public host, so the SSRF tests can tell
"allowlisted" from "refused".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from app.settings import Settings
from tests.integration.conftest import conn  # noqa: F401 - a fixture, found by name
from tests.support.clones import Clones
from tests.support.server import make_token, running_api

ALLOWED_PREFIX = "https://allowed.example.com/hooks"
LOOPBACK_PREFIX = "http://127.0.0.1:9/allowed"
SECRET = "s3cr3t-INTERNAL-" + "k" * 24
"""A recognisable INTERNAL_API_SECRET: the log scans look for it (and for pieces of it)."""


def security_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "scheduler_target_allowlist": f"{LOOPBACK_PREFIX},{ALLOWED_PREFIX}",
        "internal_api_secret": SECRET,
        "log_format": "json",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """For tests that install the production log handler: the root logger as it was after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


@pytest.fixture
def settings(database_url: str) -> Settings:
    return security_settings(database_url)


# --- one API per module, for the tests that only need "a server and a tenant" ----------------
# Starting an API on a fresh database costs ~0.5 s; the hostile-input and fuzz tests send
# hundreds of requests that do not depend on each other's data, so they share one per module.


@pytest.fixture(scope="module")
def shared_database_url(clones: Clones) -> str:
    return clones.clone()


@pytest.fixture(scope="module")
def shared_api_url(shared_database_url: str) -> Iterator[str]:
    with running_api(security_settings(shared_database_url)) as url:
        yield url


@pytest.fixture(scope="module")
def shared_client(shared_api_url: str, shared_database_url: str) -> Iterator[httpx.Client]:
    """Tenant `acme` on the module's API."""
    token = make_token(shared_database_url, "acme")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=shared_api_url, headers=headers, timeout=10) as http:
        yield http


PAUSED = {"workflowId": "wf", "cronExpression": "0 6 * * *", "enabled": False}


def error_body(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    body = answer.json()
    assert set(body) == {"error", "message", "errors"}, body
    return dict(body)


def _text_columns(db: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = db.execute(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public'
             AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')"""
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def find_in_database(db: psycopg.Connection[Any], needles: list[str]) -> list[str]:
    """Every (table.column) of the public schema whose text (or bytes, as text and hex) holds
    one of `needles`."""
    found = []
    for table, column in _text_columns(db):
        for needle in needles:
            query = sql.SQL(
                "SELECT count(*) FROM {t} WHERE strpos({c}::text, %(p)s) > 0"
                " OR strpos({c}::text, %(h)s) > 0"
            ).format(t=sql.Identifier(table), c=sql.Identifier(column))
            params = {"p": needle, "h": needle.encode().hex()}
            row = db.execute(query, params).fetchone()
            if row and row[0]:
                found.append(f"{table}.{column}: {needle[:12]}…")
    return found
