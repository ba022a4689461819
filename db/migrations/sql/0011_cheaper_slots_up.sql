-- Cheaper slots (issue 13): fewer statistics rows per fired slot.
--
-- 1. The dispatcher inserts the runs it runs itself already `running` (attempts 1, started_at
--    and executed_at set: db/queries/executions.sql execution_insert_many), so no UPDATE starts
--    them. The insert's trigger samples their fire lag, as the update's trigger does for a run
--    started by an UPDATE (that one samples only where executed_at goes from NULL to a value,
--    so no run is sampled twice).
-- 2. Metrics read only for the whole deployment (/metrics: finished/<status>, lag_*,
--    duration_total_*, result_*) are no longer written per schedule: each statement appends
--    them, summed over its rows, to workflow_stat_global_deltas, which the fold moves into the
--    'g' scope and stats_global reads beside the other deltas (db/queries/stats.sql). A slot
--    then costs 6 per-schedule delta rows instead of 15. Their per-schedule and per-tenant
--    values written before this revision stay, unread; the global values stay exact.
-- 3. The update's per-schedule statistics are the new rows' minus the old rows' (no join),
--    and durations count for the runs that are succeeded or failed now, as the delete's
--    trigger assumes when it takes them away.
CREATE TABLE workflow_stat_global_deltas (
    id      bigserial PRIMARY KEY,
    metric  text NOT NULL,
    key     text NOT NULL DEFAULT '',
    value   bigint NOT NULL
);

-- The fire lag of first attempts: start − (slot + jitter).
CREATE FUNCTION wfs_lag_samples(lag_ms double precision)
    RETURNS TABLE (metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT m.metric, m.key, m.value FROM (VALUES
        ('lag_count', '', 1::bigint),
        ('lag_sum_ms', '', round(lag_ms)::bigint),
        ('lag_bucket', wfs_bucket(lag_ms), 1::bigint)
    ) AS m(metric, key, value)
$$;

CREATE OR REPLACE FUNCTION wfs_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs are normally inserted unfinished (or missed/skipped, without a duration); rows
    -- inserted already finished with a duration (imports, tests) are counted the same way.
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, 1::bigint AS value
        FROM new_rows
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM new_rows, LATERAL wfs_duration_samples(duration_ms, 1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    WITH samples AS (
        SELECT 'finished' AS metric, status AS key, 1::bigint AS value FROM new_rows
        WHERE status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM new_rows, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
          AND m.metric LIKE 'duration_total%'
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM new_rows,
             LATERAL wfs_lag_samples(
                 greatest(0, extract(epoch FROM executed_at - fire_at) * 1000)) AS m
        WHERE executed_at IS NOT NULL AND fire_at IS NOT NULL
    )
    INSERT INTO workflow_stat_global_deltas (metric, key, value)
    SELECT metric, key, sum(value) FROM samples GROUP BY 1, 2;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION wfs_stats_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN  -- an update that matched nothing
        RETURN NULL;
    END IF;
    -- Per schedule: every old row's status and duration taken away, every new row's added;
    -- what an update did not change sums to 0 and is not written. No join of the transition
    -- tables: PL/pgSQL keeps the plan of a statement's first run for the session, and a join
    -- planned for the few rows of an early statement became a nested loop, quadratic in the
    -- rows of every later finish on that connection (measured: see the commit that added
    -- this revision's update trigger).
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, -1::bigint AS value
        FROM old_rows
        UNION ALL
        SELECT trigger_id, tenant, 'status', status, 1 FROM new_rows
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, -m.value
        FROM old_rows, LATERAL wfs_duration_samples(duration_ms, 1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM new_rows, LATERAL wfs_duration_samples(duration_ms, 1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4
    HAVING sum(value) <> 0;
    -- Deployment-wide: what the update started or ended, which needs each row's old and new
    -- state side by side. EXECUTE plans the join for the rows at hand, each time.
    EXECUTE $q$
    WITH changed AS (
        SELECT o.status AS old_status, n.status AS new_status, n.duration_ms, n.fire_at,
               o.executed_at AS old_executed_at, n.executed_at AS new_executed_at,
               n.accepted_at, n.finished_at,
               (n.status IN ('succeeded', 'failed')
                AND o.status NOT IN ('succeeded', 'failed')) AS completed
        FROM old_rows o JOIN new_rows n ON n.id = o.id
    ), samples AS (
        SELECT 'finished' AS metric, new_status AS key, 1::bigint AS value FROM changed
        WHERE old_status <> new_status
          AND new_status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed',
                             'cancelled')
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM changed, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
        WHERE completed AND duration_ms IS NOT NULL AND m.metric LIKE 'duration_total%'
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM changed,
             LATERAL wfs_lag_samples(
                 greatest(0, extract(epoch FROM new_executed_at - fire_at) * 1000)) AS m
        WHERE old_executed_at IS NULL AND new_executed_at IS NOT NULL AND fire_at IS NOT NULL
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM changed,
             LATERAL (SELECT greatest(0, extract(epoch FROM finished_at - accepted_at) * 1000)
                      AS wait_ms) AS w,
             LATERAL (VALUES ('result_count', '', 1::bigint),
                             ('result_sum_ms', '', round(w.wait_ms)::bigint),
                             ('result_bucket', wfs_bucket(w.wait_ms), 1::bigint))
                 AS m(metric, key, value)
        WHERE old_status = 'accepted' AND new_status IN ('succeeded', 'failed', 'timed_out')
          AND accepted_at IS NOT NULL AND finished_at IS NOT NULL
    )
    INSERT INTO workflow_stat_global_deltas (metric, key, value)
    SELECT metric, key, sum(value) FROM samples GROUP BY 1, 2
    $q$;
    RETURN NULL;
END;
$$;
