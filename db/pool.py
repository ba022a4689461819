"""Connection pools. Created by a process's composition root, never at import time."""

from __future__ import annotations

import select

from psycopg.pq import ConnStatus
from psycopg.rows import dict_row

from db.session import configure_session
from db.types import Conn, Pool

APPLICATION = "workflow-scheduler"


async def _configure(conn: Conn) -> None:
    # autocommit: services open explicit `conn.transaction()` blocks, one per change.
    await conn.set_autocommit(True)
    await configure_session(conn)


async def _check(conn: Conn) -> None:
    """Hands out a connection after a round trip to the server only if the server sent it
    something while it sat idle in the pool, or it is known broken. A server that ends a
    connection (a restart, a terminated backend, an idle timeout) says so on its socket
    (its last message, then the end of the stream): that connection is checked, found
    broken and replaced. A round trip at every checkout was ~5 % of a steady worker's CPU
    (py-spy, docs/benchmarks.md) and woke a backend for an empty query each time."""
    pgconn = conn.pgconn
    if pgconn.status == ConnStatus.OK and not _readable(pgconn.socket):
        return
    await Pool.check_connection(conn)


def _readable(fd: int) -> bool:
    # poll, not select: a worker's descriptors (its targets' connections) may pass 1024.
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


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
        check=_check,
    )
