"""A batch executor wired to real parts for in-process tests: a real pool on the test
database, a real HTTP client, settings that point at a test target."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from app.settings import Settings
from db.pool import create_pool
from worker.executor import BatchExecutor
from worker.http.target import HttpTarget


@asynccontextmanager
async def open_executor(
    database_url: str, target_url: str, name: str, **settings: Any
) -> AsyncIterator[BatchExecutor]:
    """An executor sending to `target_url` (a `{workflowId}` template); closed on exit."""
    pool = create_pool(database_url, min_size=1, max_size=4, name=name)
    await pool.open()
    http = HttpTarget()
    try:
        yield BatchExecutor(
            pool,
            http,
            Settings(
                database_url=database_url,
                internal_api_secret=SecretStr("s3cret"),
                scheduler_target_url=target_url,
                **settings,
            ),
        )
    finally:
        await http.aclose()
        await pool.close()
