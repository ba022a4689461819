"""Migration 0010 on a populated 0009 database: up converts the history into a partitioned table
and loses nothing (rows, statistics, indexes, constraints, triggers, grants, the view that
reads it); down gives back the 0009 table exactly."""

from __future__ import annotations

import os
from datetime import date, timedelta

import psycopg
import pytest

from db import migrate
from db.queries import query

TABLE = "workflow_schedule_executions"

POPULATE = """
INSERT INTO workflow_schedule_executions (
    trigger_id, workflow_id, tenant, scheduled_at, status, duration_ms, finished_at, trigger,
    error, created_at)
SELECT t.id, 'wf-' || t.n, 'tenant-' || (t.n % 2), '2026-11-01T00:00:00Z'::timestamptz
           + make_interval(hours => 7 * i + t.n),
       (ARRAY['succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled', 'pending',
              'running', 'retrying', 'accepted'])[1 + (i + t.n) % 10],
       CASE WHEN (i + t.n) % 10 < 2 THEN 10 * i + t.n END,
       CASE WHEN (i + t.n) % 10 < 6 THEN '2026-11-01T00:00:00Z'::timestamptz
                                         + make_interval(hours => 7 * i + t.n, secs => 3) END,
       (ARRAY['schedule', 'catchup', 'manual', 'backfill'])[1 + i % 4],
       CASE WHEN i % 3 = 0 THEN 'boom ' || i END,
       '2026-11-01T00:00:00Z'::timestamptz + make_interval(hours => 7 * i + t.n)
FROM generate_series(0, 39) AS i,
     (SELECT n, ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid AS id
      FROM generate_series(1, 5) AS n) AS t;
"""

# Everything about the table and what hangs off it, partition-agnostic: the parent's own
# columns, constraints, indexes, triggers, grants and the relations that depend on it.
SHAPE = {
    # In order, without attnum: 0005 dropped a column, whose number a new table does not keep.
    "columns": """
        SELECT attname, format_type(atttypid, atttypmod), attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid
                                                  AND d.adnum = a.attnum
        WHERE a.attrelid = %(t)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""",
    "constraints": """
        SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %(t)s::regclass ORDER BY conname""",
    "indexes": """
        SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %(t)s::regclass ORDER BY 1""",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid = %(t)s::regclass AND NOT tgisinternal ORDER BY 1""",
    "grants": """
        SELECT a.privilege_type, pg_get_userbyid(a.grantee), a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) AS a
        WHERE c.oid = %(t)s::regclass ORDER BY 1, 2""",
    "dependents": """
        SELECT DISTINCT v.relname, pg_get_viewdef(v.oid)
        FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
        JOIN pg_class v ON v.oid = r.ev_class
        WHERE d.refobjid = %(t)s::regclass AND d.classid = 'pg_rewrite'::regclass
          AND v.oid <> %(t)s::regclass ORDER BY 1""",
}


def shape(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, list[tuple[object, ...]]]:
    return {name: conn.execute(sql, {"t": TABLE}).fetchall() for name, sql in SHAPE.items()}


def contents(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, list[tuple[object, ...]]]:
    return {
        "rows": conn.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall(),
        "stats": conn.execute(
            """SELECT trigger_id, metric, key, sum(value) FROM (
                   SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
                   FROM workflow_schedule_stat_values WHERE scope LIKE 's:%'
                   UNION ALL
                   SELECT trigger_id, metric, key, value FROM workflow_schedule_stat_deltas
               ) v GROUP BY 1, 2, 3 HAVING sum(value) <> 0 ORDER BY 1, 2, 3"""
        ).fetchall(),
        "view": conn.execute("SELECT * FROM recent_executions ORDER BY id").fetchall(),
    }


@pytest.fixture
def reader_role(empty_database_url: str) -> str:
    """A role of this test only (roles belong to the cluster), for a grant to survive."""
    role = f"history_reader_{os.getpid()}"
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role}")
    return role


def test_up_keeps_everything_and_down_restores_0009(
    empty_database_url: str, reader_role: str
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0009")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(POPULATE)
        conn.execute(f"GRANT SELECT ON {TABLE} TO {reader_role}")
        before_shape, before = shape(conn), contents(conn)
    assert len(before["rows"]) == 200 and before["stats"]

    migrate.upgrade(url, "0010")
    with psycopg.connect(url, autocommit=True) as conn:
        after_shape, after = shape(conn), contents(conn)
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (TABLE,))
        assert kind.fetchone() == ("p",)
        partitions = conn.execute(
            "SELECT name, lower_bound, upper_bound FROM wfs_history_partitions()"
        ).fetchall()
        default_rows = conn.execute(f"SELECT count(*) FROM {TABLE}_default").fetchone()
        today = conn.execute("SELECT (clock_timestamp() AT TIME ZONE 'UTC')::date").fetchone()
    assert after == before
    # The same columns, checks, index names, triggers, grants and dependent views; only the
    # primary key gains the partition key (a unique index must contain it).
    for name in ("columns", "grants", "dependents"):
        assert after_shape[name] == before_shape[name], name
    # The stats triggers as they were, plus the two that keep the unfinished floor.
    added = {t[0] for t in after_shape["triggers"]} - {t[0] for t in before_shape["triggers"]}
    assert set(before_shape["triggers"]) <= set(after_shape["triggers"])
    assert added == {"wfs_history_floor_insert", "wfs_history_floor_reopen"}
    assert [i[0] for i in after_shape["indexes"]] == [i[0] for i in before_shape["indexes"]]
    constraints = {c[0]: c[2] for c in after_shape["constraints"]}
    assert constraints == {c[0]: c[2] for c in before_shape["constraints"]} | {
        f"{TABLE}_pkey": "PRIMARY KEY (id, scheduled_at)"
    }
    assert constraints[f"{TABLE}_slot_key"] == "UNIQUE (trigger_id, scheduled_at)"
    # One partition per UTC day the rows occupy (7-hour steps from Nov 1 over 40 steps + 5 h),
    # and today and the next three days: a fresh database's runs never start in DEFAULT.
    days = {lower.date() for _, lower, _ in partitions}
    assert today is not None
    ahead = {today[0] + timedelta(days=n) for n in range(4)}
    rows_days = {date(2026, 11, 1) + timedelta(days=n) for n in range(12)}
    assert len(partitions) == len(days) and days == rows_days | ahead and default_rows == (0,)
    assert all((upper - lower).days == 1 for _, lower, upper in partitions)

    migrate.downgrade(url, "0009")
    with psycopg.connect(url, autocommit=True) as conn:
        assert shape(conn) == before_shape
        assert contents(conn) == before
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (TABLE,))
        assert kind.fetchone() == ("r",)
        leftovers = conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'workflow_schedule_executions_%%'"
            " AND relkind IN ('r', 'p')"
        ).fetchall()
    assert leftovers == []


def test_up_then_new_rows_route_count_and_keep_one_per_slot(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT wfs_history_partition_create('2026-12-01', '2026-12-02')")
        insert = (
            f"INSERT INTO {TABLE} (trigger_id, workflow_id, tenant, scheduled_at) VALUES "
            "('6f1c1a52-8a8e-4a57-9f43-3d1b2f0c7e11', 'wf', 't', %s)"
        )
        conn.execute(insert, ("2026-12-01T10:00:00Z",))
        conn.execute(insert, ("2031-01-01T00:00:00Z",))  # no partition: the DEFAULT one
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, ("2026-12-01T10:00:00Z",))
        placed = conn.execute(
            f"SELECT tableoid::regclass::text FROM {TABLE} ORDER BY scheduled_at"
        ).fetchall()
        counted = {
            (metric, key): value for metric, key, value in conn.execute(query("stats_global"))
        }
    assert placed == [(f"{TABLE}_p20261201_0000",), (f"{TABLE}_default",)]
    assert counted[("status", "pending")] == 2
