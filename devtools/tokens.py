"""API tokens for development and tests, made through the service (app.services.tokens), as the
`scheduler token` commands make them, without running the CLI and reading its output."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

from app.errors import Unauthorized
from app.services import tokens
from db.types import Conn


async def _connect(database_url: str) -> Conn:
    return await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    )


def make_token(database_url: str, tenant: str, name: str = "test") -> str:
    """A new token of `tenant` (its signing key is made with its first token)."""

    async def create() -> str:
        async with await _connect(database_url) as conn:
            token, _ = await tokens.create(conn, tenant, name)
            return token

    return asyncio.run(create())


def token_works(database_url: str, token: str, tenant: str) -> bool:
    """Whether `token` is a valid, unrevoked token of `tenant` in that database."""

    async def check() -> bool:
        async with await _connect(database_url) as conn:
            try:
                return await tokens.authenticate(conn, token) == tenant
            except Unauthorized:
                return False

    return asyncio.run(check())
