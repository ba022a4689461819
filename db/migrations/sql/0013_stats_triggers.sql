-- The statistics triggers' functions of revision 0013, run by its upgrade and by 0021's
-- downgrade (the revisions between did not change them).

CREATE OR REPLACE FUNCTION wfs_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs are normally inserted unfinished (counted per tenant, per statement) or
    -- missed/skipped (without a duration); rows inserted already finished with a duration
    -- (imports, tests) are counted the same way.
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, 1::bigint AS value
        FROM new_rows WHERE wfs_is_final(status)
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM new_rows, LATERAL wfs_duration_samples(duration_ms, 1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
    SELECT tenant, 'status', status, count(*) FROM new_rows WHERE NOT wfs_is_final(status)
    GROUP BY 1, 3;
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
        FROM old_rows WHERE wfs_is_final(status)
        UNION ALL
        SELECT trigger_id, tenant, 'status', status, 1 FROM new_rows WHERE wfs_is_final(status)
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
    -- Unfinished runs per tenant and status, the same way (old rows out, new rows in).
    WITH samples AS (
        SELECT tenant, status, -1::bigint AS value FROM old_rows WHERE NOT wfs_is_final(status)
        UNION ALL
        SELECT tenant, status, 1 FROM new_rows WHERE NOT wfs_is_final(status)
    )
    INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
    SELECT tenant, 'status', status, sum(value) FROM samples GROUP BY 1, 3
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

CREATE OR REPLACE FUNCTION wfs_stats_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, -1::bigint AS value
        FROM old_rows WHERE wfs_is_final(status)
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM old_rows, LATERAL wfs_duration_samples(duration_ms, -1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
    SELECT tenant, 'status', status, -count(*) FROM old_rows WHERE NOT wfs_is_final(status)
    GROUP BY 1, 3;
    RETURN NULL;
END;
$$;
