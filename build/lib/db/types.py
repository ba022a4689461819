"""Types shared by the repositories and the processes that hold pools."""

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[dict[str, Any]]
Pool = AsyncConnectionPool[Conn]
