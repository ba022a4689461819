-- name: stats_fold_turn
-- This transaction's turn to fold: no other folder now (an advisory try-lock held to the
-- transaction's end: the others skip, nothing waits), and the deployment's last fold `every`
-- seconds old or more on the database clock, whatever the number of workers (migration 0015).
-- The instant is written in the fold's transaction: a fold that fails leaves it as it was.
WITH turn AS (
    SELECT pg_try_advisory_xact_lock(hashtext('workflow_schedule_stats_fold')) AS got
), taken AS (
    UPDATE workflow_stat_fold_clock
    SET folded_at = coalesce(%(now)s::timestamptz, clock_timestamp())
    WHERE (SELECT got FROM turn)
      AND (%(every)s = 0  -- on at once: a full round left more waiting, or a test
           OR folded_at <= coalesce(%(now)s::timestamptz, clock_timestamp())
                           - make_interval(secs => %(every)s)
           -- A last fold "in the future" (the clock stepped back) must not stop the folds.
           OR folded_at > coalesce(%(now)s::timestamptz, clock_timestamp()))
    RETURNING 1
)
SELECT EXISTS (SELECT FROM taken) AS got;

-- name: stats_fold
-- Moves up to `limit` deltas and up to `limit` outcome deltas (a schedule's finished runs per
-- status and duration bucket, migration 0021) into the per-schedule, per-tenant and global
-- values, up to `limit` global deltas (metrics kept for the whole deployment only, migration
-- 0011) into the global values, and up to `limit` tenant deltas (unfinished runs per tenant,
-- migration 0013) into the per-tenant and global values. Runs in the same transaction as
-- stats_fold_turn. ORDER BY keeps the upsert's row-lock order stable.
-- The deltas to move are found on the primary key and deleted by it (`= ANY (ARRAY(...))`),
-- never by a join: `id IN (SELECT ... LIMIT 50000)` was planned as a hash join over a
-- sequential scan of the whole table, whose size is every delta not vacuumed yet. When vacuum
-- fell behind (a 1,000/s steady run: 149 MB for 10,000 live rows), each fold read all of it:
-- 6,000 deltas took 21-26 s instead of 45 ms, and PostgreSQL's CPU per slot went from 0.29 to
-- 1.3 ms (docs/benchmarks.md). By the key: 50-60 ms, bloated or not.
WITH moved AS (
    DELETE FROM workflow_schedule_stat_deltas
    WHERE id = ANY (ARRAY(
        SELECT id FROM workflow_schedule_stat_deltas ORDER BY id LIMIT %(limit)s))
    RETURNING trigger_id, tenant, metric, key, value
), moved_outcomes AS (
    DELETE FROM workflow_schedule_outcome_deltas
    WHERE id = ANY (ARRAY(
        SELECT id FROM workflow_schedule_outcome_deltas ORDER BY id LIMIT %(limit)s))
    RETURNING trigger_id, tenant, status, runs, duration_bucket, duration_sum_ms
), moved_global AS (
    DELETE FROM workflow_stat_global_deltas
    WHERE id = ANY (ARRAY(
        SELECT id FROM workflow_stat_global_deltas ORDER BY id LIMIT %(limit)s))
    RETURNING metric, key, value
), moved_tenant AS (
    DELETE FROM workflow_stat_tenant_deltas
    WHERE id = ANY (ARRAY(
        SELECT id FROM workflow_stat_tenant_deltas ORDER BY id LIMIT %(limit)s))
    RETURNING tenant, metric, key, value
), outcomes AS (
    -- The moved outcome deltas of a schedule, status and bucket added up before they are
    -- expanded (a schedule's few seconds of finishes, not each of its deltas, nine times
    -- over). `counted` and `timed`: whether any of them had runs or a duration to add, which
    -- is when each expanded into that metric (wfs_outcome_metrics leaves its zeros out), so
    -- that the same values are written, a sum of zero included.
    SELECT trigger_id, tenant, status, duration_bucket, sum(runs)::bigint AS runs,
           sum(duration_sum_ms)::bigint AS duration_sum_ms, bool_or(runs <> 0) AS counted,
           bool_or(duration_bucket IS NOT NULL AND duration_sum_ms <> 0) AS timed
    FROM moved_outcomes GROUP BY 1, 2, 3, 4
), folded AS (
    SELECT scope, metric, key, sum(value) AS value FROM (
        SELECT s.scope, metric, key, value
        FROM moved,
             LATERAL (VALUES ('s:' || trigger_id::text), ('t:' || tenant), ('g')) AS s(scope)
        UNION ALL
        SELECT s.scope, m.metric, m.key, m.value
        FROM outcomes o,
             -- wfs_outcome_metrics' samples (migration 0021: keep the two in step), kept
             -- when a delta of the group had them.
             LATERAL (VALUES ('status', o.status, o.runs, o.counted),
                             ('duration_sum_ms', '', o.duration_sum_ms, o.timed),
                             ('duration_bucket', o.duration_bucket, o.runs,
                              o.duration_bucket IS NOT NULL AND o.counted))
                 AS m(metric, key, value, kept),
             LATERAL (VALUES ('s:' || o.trigger_id::text), ('t:' || o.tenant), ('g')) AS s(scope)
        WHERE m.kept
        UNION ALL
        SELECT 'g', metric, key, value FROM moved_global
        UNION ALL
        SELECT s.scope, metric, key, value
        FROM moved_tenant, LATERAL (VALUES ('t:' || tenant), ('g')) AS s(scope)
    ) AS samples
    GROUP BY 1, 2, 3
), written AS (
    INSERT INTO workflow_schedule_stat_values (scope, metric, key, value)
    SELECT scope, metric, key, value FROM folded ORDER BY 1, 2, 3
    ON CONFLICT (scope, metric, key)
        DO UPDATE SET value = workflow_schedule_stat_values.value + excluded.value
    RETURNING 1
)
SELECT greatest((SELECT count(*) FROM moved), (SELECT count(*) FROM moved_outcomes),
                (SELECT count(*) FROM moved_global), (SELECT count(*) FROM moved_tenant))
           AS moved,
       (SELECT count(*) FROM written) AS written;

-- name: stat_values_prune_zero
-- Counters of schedules whose history is gone entirely (retention runs it after its prunes).
DELETE FROM workflow_schedule_stat_values
WHERE scope LIKE 's:%%' AND value = 0
  AND metric IN ('status', 'duration_sum_ms', 'duration_bucket');

-- The readers below add, in one snapshot, the folded values and the deltas not folded yet. A
-- schedule's unfinished runs (pending, running, retrying, accepted) have no deltas: they are
-- counted where they are, above the unfinished floor (the partial index of unfinished runs);
-- a tenant's and the deployment's come from the tenant deltas (migration 0013), so those two
-- reads cost the same whatever the number of unfinished runs, another tenant's included.

-- name: stats_of_schedule
SELECT metric, key, sum(value)::bigint AS value FROM (
    SELECT metric, key, value FROM workflow_schedule_stat_values
    WHERE scope = 's:' || %(trigger_id)s::text
    UNION ALL
    SELECT metric, key, value FROM workflow_schedule_unfolded_stats
    WHERE trigger_id = %(trigger_id)s
    UNION ALL
    SELECT 'status', status, count(*) FROM workflow_unfinished_executions
    WHERE trigger_id = %(trigger_id)s
      AND scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
    GROUP BY status
) v GROUP BY metric, key;

-- name: stats_of_tenant
SELECT metric, key, sum(value)::bigint AS value FROM (
    SELECT metric, key, value FROM workflow_schedule_stat_values
    WHERE scope = 't:' || %(tenant)s
    UNION ALL
    SELECT metric, key, value FROM workflow_schedule_unfolded_stats WHERE tenant = %(tenant)s
    UNION ALL
    SELECT metric, key, value FROM workflow_stat_tenant_deltas WHERE tenant = %(tenant)s
) v GROUP BY metric, key;

-- name: stats_global
SELECT metric, key, sum(value)::bigint AS value FROM (
    SELECT metric, key, value FROM workflow_schedule_stat_values WHERE scope = 'g'
    UNION ALL
    SELECT metric, key, value FROM workflow_schedule_unfolded_stats
    UNION ALL
    SELECT metric, key, value FROM workflow_stat_global_deltas
    UNION ALL
    SELECT metric, key, value FROM workflow_stat_tenant_deltas
) v GROUP BY metric, key;

-- name: stats_summaries
-- Total and success rate of a page of schedules (the list view), in one round trip.
-- `failed` counts every failure: failed and timed_out runs.
SELECT trigger_id,
       sum(value) FILTER (WHERE metric = 'status')::bigint AS total,
       sum(value) FILTER (WHERE metric = 'status' AND key = 'succeeded')::bigint AS succeeded,
       sum(value) FILTER (WHERE metric = 'status'
                          AND key IN ('failed', 'timed_out'))::bigint AS failed
FROM (
    SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
    FROM workflow_schedule_stat_values
    WHERE scope = ANY(%(scopes)s::text[]) AND metric = 'status'
    UNION ALL
    SELECT trigger_id, metric, key, value FROM workflow_schedule_unfolded_stats
    WHERE trigger_id = ANY(%(trigger_ids)s::uuid[]) AND metric = 'status'
    UNION ALL
    SELECT trigger_id, 'status', status, count(*) FROM workflow_unfinished_executions
    WHERE trigger_id = ANY(%(trigger_ids)s::uuid[])
      AND scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
    GROUP BY trigger_id, status
) v GROUP BY trigger_id;

