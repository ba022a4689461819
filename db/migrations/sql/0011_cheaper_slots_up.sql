-- Cheaper slots (issue 13). The dispatcher inserts the runs it runs itself already `running`
-- (attempts 1, started_at and executed_at set: db/queries/executions.sql
-- execution_insert_many), so no UPDATE starts them. The insert's statistics trigger then
-- samples their fire lag, as the update's trigger does for a run started by an UPDATE (it
-- samples only where executed_at goes from NULL to a value, so no run is sampled twice).
CREATE OR REPLACE FUNCTION wfs_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, 1::bigint AS value
        FROM new_rows
        UNION ALL
        SELECT trigger_id, tenant, 'finished', status, 1 FROM new_rows
        WHERE status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM new_rows, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM new_rows,
             LATERAL (SELECT greatest(0, extract(epoch FROM executed_at - fire_at) * 1000)
                      AS lag_ms) AS l,
             LATERAL (VALUES ('lag_count', '', 1::bigint),
                             ('lag_sum_ms', '', round(l.lag_ms)::bigint),
                             ('lag_bucket', wfs_bucket(l.lag_ms), 1::bigint))
                 AS m(metric, key, value)
        WHERE executed_at IS NOT NULL AND fire_at IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;
