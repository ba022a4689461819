"""Migrations 0013, 0016 and 0021 on a populated database. 0013: the unfinished runs' counts leave
the deltas and values and are read live, and every reader answers what it answered before; down
puts them back where 0012's readers find them. 0016: the duration count leaves them too (the
buckets' sum is read instead), the psql view answers the same; down writes it back. 0021: a
finished run's deltas become one outcome row; down turns the unfolded ones back into narrow
deltas. 0027: the triggers group the deployment-wide samples before expanding them and write
exactly the deltas 0021's wrote."""

from __future__ import annotations

import psycopg

from db import migrate
from db.queries import query
from tests.integration.test_history_partitions_migration import POPULATE

Counts = dict[str, dict[tuple[str, str], int]]

# The schedules of POPULATE's runs, for the psql view (it lists schedules).
SCHEDULES = """
INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, timezone, state,
                                next_run_at, next_fire_at)
SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'tenant-' || (n % 2),
       'wf-' || n, '0 0 * * *', 'UTC', 'active', '2027-01-01', '2027-01-01'
FROM generate_series(1, 5) AS n
"""
VIEW = "SELECT * FROM schedule_stats ORDER BY trigger_id"

# A fold of the per-schedule and global deltas that every revision from 0011 has (today's
# stats_fold also moves the tenant deltas of 0013).
FOLD_ANY_REVISION = """
WITH moved AS (
    DELETE FROM workflow_schedule_stat_deltas RETURNING trigger_id, tenant, metric, key, value
), moved_global AS (
    DELETE FROM workflow_stat_global_deltas RETURNING metric, key, value
)
INSERT INTO workflow_schedule_stat_values (scope, metric, key, value)
SELECT scope, metric, key, sum(value) FROM (
    SELECT s.scope, metric, key, value FROM moved,
           LATERAL (VALUES ('s:' || trigger_id::text), ('t:' || tenant), ('g')) AS s(scope)
    UNION ALL
    SELECT 'g', metric, key, value FROM moved_global
) v GROUP BY 1, 2, 3
ON CONFLICT (scope, metric, key)
    DO UPDATE SET value = workflow_schedule_stat_values.value + excluded.value
"""

# What is kept, as 0012's readers added it up (db/queries/stats.sql before 0013): values and
# deltas, per schedule, per tenant and in total.
BEFORE_0013 = """
SELECT scope, metric, key, sum(value)::bigint FROM (
    SELECT scope, metric, key, value FROM workflow_schedule_stat_values
    UNION ALL
    SELECT s.scope, d.metric, d.key, d.value FROM workflow_schedule_stat_deltas d,
           LATERAL (VALUES ('s:' || d.trigger_id::text), ('t:' || d.tenant), ('g')) AS s(scope)
    UNION ALL
    SELECT 'g', metric, key, value FROM workflow_stat_global_deltas
) v GROUP BY 1, 2, 3
"""

# From 0013: the tenant deltas too (unfinished runs per tenant, folded into 't:' and 'g').
WITH_TENANT_DELTAS = BEFORE_0013.replace(
    ") v GROUP BY 1, 2, 3",
    """    UNION ALL
    SELECT s.scope, d.metric, d.key, d.value FROM workflow_stat_tenant_deltas d,
           LATERAL (VALUES ('t:' || d.tenant), ('g')) AS s(scope)
) v GROUP BY 1, 2, 3""",
)


# From 0021: a schedule's finished runs are outcome deltas, expanded into narrow samples.
WITH_OUTCOME_DELTAS = WITH_TENANT_DELTAS.replace(
    ") v GROUP BY 1, 2, 3",
    """    UNION ALL
    SELECT s.scope, m.metric, m.key, m.value FROM workflow_schedule_outcome_deltas d,
           LATERAL wfs_outcome_metrics(d.status, d.runs, d.duration_bucket,
                                       d.duration_sum_ms) AS m,
           LATERAL (VALUES ('s:' || d.trigger_id::text), ('t:' || d.tenant), ('g')) AS s(scope)
) v GROUP BY 1, 2, 3""",
)


def _nonzero(counts: Counts) -> Counts:
    return {
        scope: {k: v for k, v in metrics.items() if v}
        for scope, metrics in counts.items()
        if any(metrics.values())
    }


def read_kept(conn: psycopg.Connection[tuple[object, ...]]) -> Counts:
    def has(table: str) -> bool:
        return conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,)

    sql = BEFORE_0013
    if has("workflow_schedule_outcome_deltas"):
        sql = WITH_OUTCOME_DELTAS
    elif has("workflow_stat_tenant_deltas"):
        sql = WITH_TENANT_DELTAS
    counts: Counts = {}
    for scope, metric, key, value in conn.execute(sql):
        counts.setdefault(str(scope), {})[(str(metric), str(key))] = int(value)  # type: ignore[call-overload]
    return _nonzero(counts)


def read_now(conn: psycopg.Connection[tuple[object, ...]]) -> Counts:
    """Every scope through today's readers."""
    ids = conn.execute("SELECT DISTINCT trigger_id FROM workflow_schedule_executions").fetchall()
    tenants = conn.execute("SELECT DISTINCT tenant FROM workflow_schedule_executions").fetchall()
    reads = [(f"s:{i}", "stats_of_schedule", {"trigger_id": i}) for (i,) in ids]
    reads += [(f"t:{t}", "stats_of_tenant", {"tenant": t}) for (t,) in tenants]
    reads.append(("g", "stats_global", {}))
    # Before 0021 the readers were today's with the narrow deltas' table for the view.
    view = conn.execute("SELECT to_regclass('workflow_schedule_unfolded_stats')").fetchone()
    counts: Counts = {}
    for scope, name, params in reads:
        text = query(name).as_string(conn)
        if view == (None,):
            text = text.replace("workflow_schedule_unfolded_stats", "workflow_schedule_stat_deltas")
        for metric, key, value in conn.execute(text, params):  # type: ignore[call-overload]
            counts.setdefault(scope, {})[(str(metric), str(key))] = int(value)  # type: ignore[call-overload]
    return _nonzero(counts)


def finish_a_run(conn: psycopg.Connection[tuple[object, ...]], duration_ms: int = 5) -> None:
    conn.execute(
        "UPDATE workflow_schedule_executions SET status = 'succeeded', duration_ms = %s"
        " WHERE id = (SELECT id FROM workflow_schedule_executions"
        "             WHERE status = 'running' ORDER BY id LIMIT 1)",
        (duration_ms,),
    )


def populate(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(SCHEDULES)
    conn.execute(POPULATE)
    # Folded, then a run ends: some counts sit in values, some in deltas.
    conn.execute(FOLD_ANY_REVISION)
    finish_a_run(conn)


def test_0013_up_reads_the_same_and_down_restores_0012(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0012")
    with psycopg.connect(url, autocommit=True) as conn:
        populate(conn)
        before, view = read_kept(conn), conn.execute(VIEW).fetchall()
        unfinished = conn.execute(
            "SELECT count(*) FROM workflow_schedule_executions"
            " WHERE status IN ('pending', 'running', 'retrying', 'accepted')"
        ).fetchone()
    assert unfinished and unfinished[0] > 0
    assert before["g"][("status", "running")] > 0
    assert len(view) == 5 and all(row[11] for row in view)  # `unfinished`

    migrate.upgrade(url, "0013")
    with psycopg.connect(url, autocommit=True) as conn:
        assert read_now(conn) == before
        assert conn.execute(VIEW).fetchall() == view
        left = conn.execute(
            "SELECT count(*) FROM (SELECT key FROM workflow_schedule_stat_deltas"
            " UNION ALL SELECT key FROM workflow_schedule_stat_values WHERE scope LIKE 's:%') k"
            " WHERE key IN ('pending', 'running', 'retrying', 'accepted')"
        ).fetchone()
    assert left == (0,), "a schedule's unfinished runs are counted live, not kept"

    migrate.downgrade(url, "0012")
    with psycopg.connect(url, autocommit=True) as conn:
        assert read_kept(conn) == before
        assert conn.execute(VIEW).fetchall() == view


def test_0016_up_counts_durations_by_their_buckets_and_down_writes_the_count_back(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0015")
    with psycopg.connect(url, autocommit=True) as conn:
        populate(conn)
        before, view = read_kept(conn), conn.execute(VIEW).fetchall()
    counts = [m[("duration_count", "")] for m in before.values() if ("duration_count", "") in m]
    assert counts and all(counts)
    assert any(row[13] is not None for row in view)  # `avg_duration_ms`

    migrate.upgrade(url, "0016")
    with psycopg.connect(url, autocommit=True) as conn:
        without_count = {
            scope: {k: v for k, v in metrics.items() if k != ("duration_count", "")}
            for scope, metrics in before.items()
        }
        assert read_kept(conn) == without_count
        assert conn.execute(VIEW).fetchall() == view

    migrate.downgrade(url, "0015")
    with psycopg.connect(url, autocommit=True) as conn:
        assert read_kept(conn) == before
        assert conn.execute(VIEW).fetchall() == view


def test_0021_up_keeps_every_count_and_down_turns_outcome_deltas_into_narrow_ones(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0020")
    with psycopg.connect(url, autocommit=True) as conn:
        populate(conn)  # narrow deltas of 0020's triggers, not folded
        before, view = read_kept(conn), conn.execute(VIEW).fetchall()

    migrate.upgrade(url, "0021")
    with psycopg.connect(url, autocommit=True) as conn:
        assert read_kept(conn) == before
        assert conn.execute(VIEW).fetchall() == view
        finish_a_run(conn, duration_ms=7)
        finish_a_run(conn, duration_ms=900)
        outcome = conn.execute("SELECT count(*) FROM workflow_schedule_outcome_deltas").fetchone()
        assert outcome == (2,), "each finish wrote one outcome delta"
        narrow = conn.execute(
            "SELECT count(*) FROM workflow_schedule_stat_deltas WHERE metric = 'status'"
            " AND key = 'succeeded'"
        ).fetchone()
        after, view_after = read_kept(conn), conn.execute(VIEW).fetchall()
    assert after != before and view_after != view

    migrate.downgrade(url, "0020")
    with psycopg.connect(url, autocommit=True) as conn:
        assert read_kept(conn) == after
        assert conn.execute(VIEW).fetchall() == view_after
        moved = conn.execute(
            "SELECT count(*) FROM workflow_schedule_stat_deltas WHERE metric = 'status'"
            " AND key = 'succeeded'"
        ).fetchone()
        assert narrow is not None and moved is not None and moved[0] > narrow[0]
        finish_a_run(conn, duration_ms=11)  # 0020's triggers again
        assert read_kept(conn) != after


# Runs of every kind through the triggers: inserted with lags that round half-way and below
# zero, final with durations, waiting; then finishes (the common update), starts (their lags),
# results of accepted runs (their waits: a heartbeat, a retry, time-outs and ends of accepted
# runs alone, then one mixed with running runs) and time-outs (the others).
TRIGGER_WORKLOAD = (
    """
    INSERT INTO workflow_schedule_executions
        (trigger_id, workflow_id, tenant, scheduled_at, fire_at, executed_at, status,
         duration_ms, attempts, finished_at, accepted_at)
    SELECT ('00000000-0000-4000-8000-' || lpad((k % 7)::text, 12, '0'))::uuid, 'wf',
           'tenant-' || (k % 3), t.at, t.at,
           CASE WHEN s <> 'pending' THEN t.at + make_interval(secs => lag / 1000.0) END,
           s, d, 1, CASE WHEN s IN ('succeeded', 'failed', 'skipped', 'missed') THEN t.at END,
           CASE WHEN s = 'accepted' THEN t.at END
    FROM generate_series(1, 600) AS k,
         LATERAL (SELECT '2026-12-06 10:00+00'::timestamptz + make_interval(secs => k) AS at) t,
         LATERAL (SELECT (ARRAY['pending', 'running', 'running', 'succeeded', 'failed',
                                'skipped', 'missed', 'accepted'])[1 + k % 8] AS s,
                         (ARRAY[0, 0.5, 1.5, 2.5, 999.5, 1234.567, -3])[1 + k % 7] AS lag,
                         (ARRAY[NULL, 0, 1, 2, 37, 1000, 98765])[1 + (k / 7) % 7]
                             AS d) AS v
    """,
    "UPDATE workflow_schedule_executions SET duration_ms = coalesce(duration_ms, 5) + 3,"
    " status = CASE WHEN duration_ms % 2 = 0 THEN 'succeeded' ELSE 'failed' END"
    " WHERE status = 'running'",
    "UPDATE workflow_schedule_executions SET status = 'running',"
    " executed_at = scheduled_at + interval '1234.5 ms' WHERE status = 'pending'",
    "UPDATE workflow_schedule_executions SET completion_deadline = accepted_at + interval '1 h'"
    " WHERE status = 'accepted'",
    "UPDATE workflow_schedule_executions SET status = 'retrying', next_attempt_at = accepted_at"
    " WHERE status = 'accepted' AND extract(second FROM scheduled_at)::int % 5 = 0",
    "UPDATE workflow_schedule_executions SET status = 'timed_out',"
    " finished_at = accepted_at + interval '4.5 ms' WHERE status = 'accepted'"
    " AND extract(second FROM scheduled_at)::int % 5 = 1",
    "UPDATE workflow_schedule_executions SET status = CASE WHEN duration_ms % 2 = 0"
    " THEN 'succeeded' ELSE 'failed' END, duration_ms = duration_ms + 1,"
    " finished_at = accepted_at + make_interval(secs => duration_ms / 1000.0)"
    " WHERE status = 'accepted' AND extract(second FROM scheduled_at)::int % 5 = 2",
    "UPDATE workflow_schedule_executions SET status = 'succeeded', duration_ms = 77,"
    " finished_at = accepted_at + interval '2.5 ms'"
    " WHERE status = 'accepted' OR (status = 'running' AND duration_ms = 37)",
    "UPDATE workflow_schedule_executions SET status = 'timed_out' WHERE status = 'running'",
)
DELTAS = (
    "SELECT metric, key, sum(value)::bigint FROM workflow_stat_global_deltas"
    " GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT trigger_id, tenant, status, duration_bucket, sum(runs)::bigint,"
    " sum(duration_sum_ms)::bigint FROM workflow_schedule_outcome_deltas"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    "SELECT tenant, metric, key, sum(value)::bigint FROM workflow_stat_tenant_deltas"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
)


def _deltas_of_the_trigger_workload(url: str) -> list[list[tuple[object, ...]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE workflow_schedule_executions, workflow_stat_global_deltas,"
            " workflow_schedule_outcome_deltas, workflow_stat_tenant_deltas"
        )
        for statement in TRIGGER_WORKLOAD:
            conn.execute(statement)
        return [conn.execute(read).fetchall() for read in DELTAS]


def test_0027_triggers_write_the_deltas_0021s_wrote_and_down_writes_them_again(
    empty_database_url: str,
) -> None:
    """0027 groups the deployment-wide samples by bucket before expanding them: every delta
    must be what 0021's triggers wrote, lags and waits rounded the same way."""
    url = empty_database_url
    migrate.upgrade(url, "0026")
    before = _deltas_of_the_trigger_workload(url)
    metrics = {metric for metric, _, _ in before[0]}
    assert {"finished", "lag_bucket", "duration_total_bucket", "result_bucket"} <= metrics
    migrate.upgrade(url, "0027")
    assert _deltas_of_the_trigger_workload(url) == before
    migrate.downgrade(url, "0026")
    assert _deltas_of_the_trigger_workload(url) == before


def test_0030_triggers_write_the_deltas_0029s_wrote_and_down_writes_them_again(
    empty_database_url: str,
) -> None:
    """0030 samples the updates of accepted runs from their new rows alone, without the join
    EXECUTE planned at each: every delta must be what 0029's triggers wrote (a heartbeat, a
    retry, time-outs and ends of accepted runs, waits rounded the same way)."""
    url = empty_database_url
    migrate.upgrade(url, "0029")
    before = _deltas_of_the_trigger_workload(url)
    assert {"result_bucket", "result_sum_ms", "duration_total_bucket"} <= {
        metric for metric, _, _ in before[0]
    }
    migrate.upgrade(url, "0030")
    assert _deltas_of_the_trigger_workload(url) == before
    migrate.downgrade(url, "0029")
    assert _deltas_of_the_trigger_workload(url) == before


def test_0031_triggers_write_the_deltas_0030s_wrote_and_down_writes_them_again(
    empty_database_url: str,
) -> None:
    """0031 samples a batch's start (pending runs made running) from its new rows alone: every
    delta must be what 0030's triggers wrote."""
    url = empty_database_url
    migrate.upgrade(url, "0030")
    before = _deltas_of_the_trigger_workload(url)
    assert "lag_bucket" in {metric for metric, _, _ in before[0]}
    migrate.upgrade(url, "0031")
    assert _deltas_of_the_trigger_workload(url) == before
    migrate.downgrade(url, "0030")
    assert _deltas_of_the_trigger_workload(url) == before
