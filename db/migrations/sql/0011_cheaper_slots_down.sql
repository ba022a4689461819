-- Back to the statistics triggers of 0008: every metric per schedule again. The global deltas
-- not folded yet go into the 'g' scope first, so /metrics stays exact.
INSERT INTO workflow_schedule_stat_values (scope, metric, key, value)
SELECT 'g', metric, key, sum(value) FROM workflow_stat_global_deltas GROUP BY 1, 2, 3
ON CONFLICT (scope, metric, key)
    DO UPDATE SET value = workflow_schedule_stat_values.value + excluded.value;

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

CREATE OR REPLACE FUNCTION wfs_stats_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT n.trigger_id, n.tenant, o.status AS old_status, n.status AS new_status,
               n.duration_ms, n.fire_at, o.executed_at AS old_executed_at,
               n.executed_at AS new_executed_at, n.accepted_at, n.finished_at,
               (n.status IN ('succeeded', 'failed')
                AND o.status NOT IN ('succeeded', 'failed')) AS completed
        FROM old_rows o JOIN new_rows n ON n.id = o.id
    ), samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, old_status AS key, -1 AS value
        FROM changed WHERE old_status <> new_status
        UNION ALL
        SELECT trigger_id, tenant, 'status', new_status, 1
        FROM changed WHERE old_status <> new_status
        UNION ALL
        SELECT trigger_id, tenant, 'finished', new_status, 1 FROM changed
        WHERE old_status <> new_status
          AND new_status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed',
                             'cancelled')
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM changed, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
        WHERE completed AND duration_ms IS NOT NULL
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM changed,
             LATERAL (SELECT greatest(0, extract(epoch FROM new_executed_at - fire_at) * 1000)
                      AS lag_ms) AS l,
             LATERAL (VALUES ('lag_count', '', 1::bigint),
                             ('lag_sum_ms', '', round(l.lag_ms)::bigint),
                             ('lag_bucket', wfs_bucket(l.lag_ms), 1::bigint))
                 AS m(metric, key, value)
        WHERE old_executed_at IS NULL AND new_executed_at IS NOT NULL AND fire_at IS NOT NULL
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
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
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;

DROP TABLE workflow_stat_global_deltas;
DROP FUNCTION wfs_lag_samples(double precision);
