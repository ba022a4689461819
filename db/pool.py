"""Connection pools. Created by a process's composition root, never at import time."""

from __future__ import annotations

from psycopg.rows import dict_row

from db.session import configure_session
from db.types import Conn, Pool

APPLICATION = "workflow-scheduler"


async def _configure(conn: Conn) -> None:
    # autocommit: services open explicit `conn.transaction()` blocks, one per change.
    await conn.set_autocommit(True)
    await configure_session(conn)


def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, name: str = "scheduler"
) -> Pool:
    """An unopened pool of autocommit connections returning dict rows. Its connections carry
    `workflow-scheduler <name>` as their application_name, so pg_stat_activity on either the
    primary or a replica tells whose they are (a URL's own application_name wins)."""
    return Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        connection_class=Conn,
        configure=_configure,
        kwargs={
            "row_factory": dict_row,
            "autocommit": True,
            "fallback_application_name": f"{APPLICATION} {name}",
        },
        # A connection broken by a database restart is noticed and replaced, not handed out.
        check=Pool.check_connection,
    )
