-- The statistics triggers' deployment-wide samples grouped before they are expanded (issue 13).
--
-- A run's lag (at its start) and its duration (at its end) each became three narrow samples
-- (`<metric>_count`, `<metric>_sum_ms`, `<metric>_bucket`), expanded row by row from the
-- transition table by wfs_lag_samples and wfs_duration_samples and then summed per metric and
-- key, the costliest part of a start's and a finish's statistics (docs/benchmarks.md,
-- "thirteenth stop"). The runs are now grouped by bucket first (a count and a sum per bucket) and each group expanded
-- by wfs_timing_metrics: the same deltas, a handful of rows expanded per statement. The values
-- are exactly those of 0021's triggers (a rounded lag is summed as before: each run's lag
-- rounded, then added).

-- A group of runs whose lag, duration or wait for a result fell in one bucket, as the narrow
-- deployment-wide metrics `<prefix>_count`, `<prefix>_sum_ms` and `<prefix>_bucket`.
CREATE FUNCTION wfs_timing_metrics(prefix text, bucket text, runs bigint, sum_ms bigint)
    RETURNS TABLE (metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT m.metric, m.key, m.value FROM (VALUES
        (prefix || '_count', '', runs),
        (prefix || '_sum_ms', '', sum_ms),
        (prefix || '_bucket', bucket, runs)
    ) AS m(metric, key, value)
$$;

CREATE OR REPLACE FUNCTION wfs_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs are normally inserted unfinished (counted per tenant, per statement) or
    -- missed/skipped (without a duration); rows inserted already finished with a duration
    -- (imports, tests) are counted the same way.
    INSERT INTO workflow_schedule_outcome_deltas
        (trigger_id, tenant, status, runs, duration_bucket, duration_sum_ms)
    SELECT trigger_id, tenant, status, count(*), bucket,
           CASE WHEN bucket IS NOT NULL THEN sum(duration_ms) ELSE 0 END
    FROM (SELECT trigger_id, tenant, status, duration_ms,
                 wfs_outcome_bucket(status, duration_ms) AS bucket
          FROM new_rows WHERE wfs_is_final(status)) AS ended
    GROUP BY trigger_id, tenant, status, bucket;
    INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
    SELECT tenant, 'status', status, count(*) FROM new_rows WHERE NOT wfs_is_final(status)
    GROUP BY 1, 3;
    -- Deployment-wide: the runs that ended, their durations and the lags of those that
    -- started, grouped by bucket, then expanded (a handful of rows a statement).
    WITH durations AS (
        SELECT wfs_bucket(duration_ms) AS bucket, count(*) AS runs,
               sum(duration_ms)::bigint AS sum_ms
        FROM new_rows WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
        GROUP BY 1
    ), lags AS (
        SELECT wfs_bucket(l.ms) AS bucket, count(*) AS runs,
               sum(round(l.ms)::bigint)::bigint AS sum_ms
        FROM new_rows,
             LATERAL (SELECT greatest(0, extract(epoch FROM executed_at - fire_at) * 1000)
                             ::double precision AS ms) AS l
        WHERE executed_at IS NOT NULL AND fire_at IS NOT NULL
        GROUP BY 1
    ), samples AS (
        SELECT 'finished' AS metric, status AS key, count(*) AS value FROM new_rows
        WHERE status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')
        GROUP BY status
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM durations AS d, LATERAL wfs_timing_metrics('duration_total', d.bucket, d.runs,
                                                        d.sum_ms) AS m
        UNION ALL
        SELECT m.metric, m.key, m.value
        FROM lags AS l, LATERAL wfs_timing_metrics('lag', l.bucket, l.runs, l.sum_ms) AS m
    )
    INSERT INTO workflow_stat_global_deltas (metric, key, value)
    SELECT metric, key, sum(value) FROM samples GROUP BY 1, 2;
    RETURN NULL;
END;
$$;

-- The update trigger's function: 0027_stats_on_update.sql (also what 0030 goes back to).
