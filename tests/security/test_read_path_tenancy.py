"""Tenancy on the read path (DATABASE_READ_URL, issue 13): the sweep of every operation
(test_endpoints_hide_other_tenants.py) again, with the lag-tolerant reads served by a real
streaming replica.

The routes that read the replica use the same services, with the same tenant, as on the
primary; this shows it holds end to end: another tenant's ids answer exactly as ids that do not
exist, and lists and statistics show nothing of another tenant's, from the replica.
"""

from __future__ import annotations

import httpx
import psycopg

from db.pool import APPLICATION
from tests.security.conftest import security_settings
from tests.security.test_endpoints_hide_other_tenants import sweep_operations
from tests.support.db import wait_until
from tests.support.replica import StreamingPair
from tests.support.server import make_token, running_api


def _reads_from(api: httpx.Client) -> str:
    return str(api.get("/ready").json()["readReplica"])


def _read_pool_on_standby(standby_url: str) -> int:
    with psycopg.connect(standby_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND query LIKE '%%tenant%%'",
            (f"{APPLICATION} api-read",),
        ).fetchone()
    return int(row[0]) if row else 0


def test_every_operation_hides_other_tenants_ids_on_the_read_path(
    replicated_database: tuple[str, str], replication: StreamingPair
) -> None:
    primary, standby = replicated_database
    settings = security_settings(primary, database_read_url=standby)
    clients = [
        httpx.Client(headers={"Authorization": f"Bearer {make_token(primary, tenant)}"}, timeout=10)
        for tenant in ("acme", "globex")
    ]
    with running_api(settings) as url, psycopg.connect(primary, autocommit=True) as db:
        for c in clients:
            c.base_url = httpx.URL(url)
        wait_until(lambda: _reads_from(clients[0]) == "replica", 10, "reads from the replica")
        sweep_operations(clients[0], clients[1], db, settle=replication.wait_replayed)
        assert _reads_from(clients[0]) == "replica"  # the sweep's reads were the replica's
        assert _read_pool_on_standby(standby) >= 1  # tenant-scoped queries ran there
    for c in clients:
        c.close()
