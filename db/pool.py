"""Connection pools. Created by a process's composition root, never at import time."""

from __future__ import annotations

import select

from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row

from db.session import configure_session
from db.types import Conn, Pool

APPLICATION = "workflow-scheduler"

# TCP keepalives on every connection (a URL's own settings win): a server that vanished
# without closing its connections (a host lost, a moved address, a dropped NAT entry) leaves
# them silent, and the kernel then reports them broken within about a minute of idleness, on
# the socket the checkout looks at (_check).
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


async def _configure(conn: Conn) -> None:
    # autocommit: services open explicit `conn.transaction()` blocks, one per change.
    await conn.set_autocommit(True)
    await configure_session(conn)


async def _check(conn: Conn) -> None:
    """Hands out a connection after a round trip to the server only if something happened
    on its socket while it sat idle in the pool, or it is known broken. A server that ends a
    connection (a restart, a terminated backend, an idle timeout) says so on the socket (its
    last message, then the end of the stream), and the kernel marks one whose peer stopped
    answering its keepalives: such a connection is checked, found broken and replaced. An
    empty query at every checkout, to a backend woken for it, was a share of a steady
    worker's CPU (docs/benchmarks.md, thirteenth stop). A connection whose peer vanished less
    than the keepalives' minute ago is handed out: its first statement fails, as it would
    have failed a moment later with a round trip."""
    pgconn = conn.pgconn
    if pgconn.status == ConnStatus.OK and not _readable(pgconn.socket):
        return
    await Pool.check_connection(conn)


def _readable(fd: int) -> bool:
    # poll, not select: a worker's descriptors (its targets' connections) may pass 1024.
    # An error or hang-up on the socket is reported whatever the events asked for.
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _keepalives_unless_set(url: str) -> dict[str, int]:
    # psycopg's keyword arguments override the URL's: only those the URL leaves out.
    given = conninfo_to_dict(url)
    return {key: value for key, value in KEEPALIVES.items() if key not in given}


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
            **_keepalives_unless_set(url),
        },
        # A connection broken by a database restart is noticed and replaced, not handed out.
        check=_check,
    )
