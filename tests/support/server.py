"""A real API server on loopback, in a thread of the test process (so tests can inject a clock)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import uvicorn
from psycopg.rows import dict_row

from app.api.app import create_app
from app.api.server import server_options
from app.clock import Clock
from app.localpg import free_port
from app.services import tokens
from app.settings import Settings


@contextmanager
def running_api(settings: Settings, clock: Clock | None = None) -> Iterator[str]:
    """Serve the API until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, clock=clock),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def make_token(database_url: str, tenant: str, name: str = "test") -> str:
    async def create() -> str:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            token, _ = await tokens.create(conn, tenant, name)
            return token

    return asyncio.run(create())
