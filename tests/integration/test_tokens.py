"""Tokens: shown once, stored hashed, tenant-bound, revocable at once; the CLI prints them last."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from app.errors import Unauthorized
from app.services import tokens
from db.types import Conn
from tests.support.cli import run_cli


async def _conn(url: str) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def test_create_authenticate_revoke(database_url: str) -> None:
    async with await _conn(database_url) as conn:
        token, info = await tokens.create(conn, "acme", "ci")
        assert token.startswith("wfs_")
        assert await tokens.authenticate(conn, token) == "acme"
        row = await (
            await conn.execute("SELECT secret_sha256 FROM api_tokens WHERE id = %s", (info.id,))
        ).fetchone()
        assert row is not None
        stored = bytes(row["secret_sha256"])  # type: ignore[arg-type]
        assert token.encode() not in stored and token[36:].encode() not in stored
        assert stored == hashlib.sha256(token[36:].encode()).digest()
        for forged in (
            token[:-1] + ("A" if token[-1] != "A" else "B"),
            token + "x",
            "wfs_",
            "wfs_" + "0" * 32 + "secret",
            "Bearer " + token,
            "",
        ):
            with pytest.raises(Unauthorized):
                await tokens.authenticate(conn, forged)
        await tokens.revoke(conn, info.id)
        with pytest.raises(Unauthorized, match="revoked"):
            await tokens.authenticate(conn, token)
        listed = await tokens.list_tokens(conn, "acme")
        assert [t.id for t in listed] == [info.id] and listed[0].revoked_at is not None


T0 = datetime(2020, 3, 1, 12, 0, tzinfo=UTC)  # long before the database clock


async def test_a_use_is_recorded_at_most_once_a_minute(conn: Conn) -> None:
    token, info = await tokens.create(conn, "acme", "ci")
    assert info.last_used_at is None
    await tokens.authenticate(conn, token, now=T0)
    await tokens.authenticate(conn, token, now=T0 + timedelta(seconds=59))
    (listed,) = await tokens.list_tokens(conn, "acme")
    assert listed.last_used_at == T0, "a second use within the minute writes nothing"
    await tokens.authenticate(conn, token, now=T0 + timedelta(seconds=61))
    (listed,) = await tokens.list_tokens(conn, "acme")
    assert listed.last_used_at == T0 + timedelta(seconds=61)
    await tokens.authenticate(conn, token)  # the database clock: long after T0
    (listed,) = await tokens.list_tokens(conn, "acme")
    assert listed.last_used_at is not None and listed.last_used_at > T0 + timedelta(days=1)


async def test_a_second_revoke_keeps_the_first_instant(conn: Conn) -> None:
    _, info = await tokens.create(conn, "acme", "ci")
    first = await tokens.revoke(conn, info.id, now=T0)
    again = await tokens.revoke(conn, info.id, now=T0 + timedelta(hours=1))
    assert first.revoked_at == again.revoked_at == T0


def test_cli_token_commands(database_url: str) -> None:
    made = run_cli(database_url, "token", "create", "--tenant", "acme", "--name", "deploy bot")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("wfs_")
    token_id = made.stdout.split()[1]
    listing = run_cli(database_url, "token", "list")
    assert token_id in listing.stdout and "deploy bot" in listing.stdout
    assert token not in listing.stdout, "a listing never shows the token"
    revoked = run_cli(database_url, "token", "revoke", token_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in run_cli(database_url, "token", "list", "--tenant", "acme").stdout
    bad = run_cli(database_url, "token", "create", "--tenant", "", "--name", "x")
    assert bad.returncode == 2 and "tenant" in bad.stderr
    unknown = run_cli(database_url, "token", "revoke", "6f1c1a52-8a8e-4a57-9f43-3d1b2f0c7e11")
    assert unknown.returncode == 2 and "no token" in unknown.stderr


def test_cli_reports_bad_configuration(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": "mysql://nope", "SCHEDULER_SHUTDOWN_TIMEOUT": "-1"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "SCHEDULER_SHUTDOWN_TIMEOUT" in done.stderr
