-- A finished run's duration count is the sum of its schedule's duration buckets (issue 13).
--
-- Each succeeded or failed run wrote a `duration_count` delta beside its `duration_bucket`
-- one, always the same +1 or -1: one of the four per-schedule delta rows a fired slot costs
-- (after 0013), for a number the buckets already hold. The readers add the buckets instead
-- (app/domain/stats.py from_metrics, the psql view); the lifetime `duration_total_count` that
-- /metrics exposes is written per statement, not per schedule, and stays.
CREATE OR REPLACE FUNCTION wfs_duration_samples(ms integer, sign integer, lifetime boolean)
    RETURNS TABLE (metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT m.metric, m.key, m.value * sign FROM (VALUES
        ('duration_sum_ms', '', ms::bigint, false),
        ('duration_bucket', wfs_bucket(ms), 1::bigint, false),
        ('duration_total_count', '', 1::bigint, true),
        ('duration_total_sum_ms', '', ms::bigint, true),
        ('duration_total_bucket', wfs_bucket(ms), 1::bigint, true)
    ) AS m(metric, key, value, is_lifetime)
    WHERE lifetime OR NOT m.is_lifetime
$$;

-- The psql view's average divides by the buckets' sum.
-- (the view: 0016_schedule_stats_view.sql, run after this; 0021's downgrade runs it too)

DELETE FROM workflow_schedule_stat_deltas WHERE metric = 'duration_count';
DELETE FROM workflow_schedule_stat_values WHERE metric = 'duration_count';
DELETE FROM workflow_history_retired_stats WHERE metric = 'duration_count';
