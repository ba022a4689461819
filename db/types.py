"""Types shared by the repositories and the processes that hold pools: defined here once."""

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

Row = dict[str, Any]
"""A row as psycopg's dict_row returns it. It stays inside db/: repositories turn it into a
typed object (a frozen dataclass) before it crosses into a service."""

Params = Mapping[str, object]
"""A named query's parameters, by placeholder name."""

JsonObject = dict[str, Any]
"""A jsonb document (an alert's payload, a foreign table's row as to_jsonb): its keys are the
document's, not a seam's, so it stays a mapping where rows and parameters are dataclasses."""

Conn = AsyncConnection[Row]
Pool = AsyncConnectionPool[Conn]
