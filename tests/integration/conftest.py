from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.rows import dict_row

from db.types import Conn


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[Conn]:
    """An autocommit async connection with dict rows, as the services get from the pools."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as connection:
        yield connection
