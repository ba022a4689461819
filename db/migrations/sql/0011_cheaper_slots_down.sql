-- Back to the insert trigger of 0008: runs inserted `running` are not sampled for lag.
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
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;
