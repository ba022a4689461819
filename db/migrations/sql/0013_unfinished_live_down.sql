-- Back to the triggers of 0011 (0003's delete trigger, 0010's retirement samples): every status
-- counted by per-schedule deltas again. The unfinished runs' counts go into the values first:
-- per schedule from the executions table, per tenant and in total from the tenant deltas not
-- folded yet (the values of those scopes are kept up to date by the fold).
LOCK TABLE workflow_schedule_executions IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE workflow_stat_tenant_deltas IN SHARE ROW EXCLUSIVE MODE;  -- no fold moves them now
INSERT INTO workflow_schedule_stat_values (scope, metric, key, value)
SELECT 's:' || trigger_id::text, 'status', status, count(*)
FROM workflow_schedule_executions
WHERE status IN ('pending', 'running', 'retrying', 'accepted')
GROUP BY 1, 3
ON CONFLICT (scope, metric, key)
    DO UPDATE SET value = workflow_schedule_stat_values.value + excluded.value;
INSERT INTO workflow_schedule_stat_values (scope, metric, key, value)
SELECT s.scope, metric, key, sum(value)
FROM workflow_stat_tenant_deltas d,
     LATERAL (VALUES ('t:' || d.tenant), ('g')) AS s(scope)
GROUP BY 1, 2, 3
ON CONFLICT (scope, metric, key)
    DO UPDATE SET value = workflow_schedule_stat_values.value + excluded.value;
DROP TABLE workflow_stat_tenant_deltas;

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

CREATE OR REPLACE FUNCTION wfs_stats_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, -1::bigint AS value
        FROM old_rows
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM old_rows, LATERAL wfs_duration_samples(duration_ms, -1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION wfs_stats_delete_samples(
    run_trigger_id uuid, run_tenant text, run_status text, run_duration_ms integer
) RETURNS TABLE (trigger_id uuid, tenant text, metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT run_trigger_id, run_tenant, 'status', run_status, -1::bigint
    UNION ALL
    SELECT run_trigger_id, run_tenant, m.metric, m.key, m.value
    FROM wfs_duration_samples(run_duration_ms, -1, false) AS m
    WHERE run_status IN ('succeeded', 'failed') AND run_duration_ms IS NOT NULL
$$;

CREATE OR REPLACE VIEW schedule_stats AS
WITH v AS (
    SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
    FROM workflow_schedule_stat_values WHERE scope LIKE 's:%'
    UNION ALL
    SELECT trigger_id, metric, key, value FROM workflow_schedule_stat_deltas
), agg AS (
    SELECT trigger_id,
           sum(value) FILTER (WHERE metric = 'status') AS total,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'succeeded') AS succeeded,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'failed') AS failed,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'timed_out') AS timed_out,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'skipped') AS skipped,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'missed') AS missed,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'accepted') AS awaiting_result,
           sum(value) FILTER (WHERE metric = 'status'
                              AND key IN ('pending', 'running', 'retrying', 'accepted'))
               AS unfinished,
           sum(value) FILTER (WHERE metric = 'duration_sum_ms') AS duration_sum_ms,
           sum(value) FILTER (WHERE metric = 'duration_count') AS duration_count
    FROM v GROUP BY trigger_id
)
SELECT s.id AS trigger_id, s.workflow_id, s.tenant, s.state, s.cron_expression, s.timezone,
       coalesce(a.total, 0) AS total, coalesce(a.succeeded, 0) AS succeeded,
       coalesce(a.failed, 0) AS failed, coalesce(a.skipped, 0) AS skipped,
       coalesce(a.missed, 0) AS missed, coalesce(a.unfinished, 0) AS unfinished,
       round(100.0 * coalesce(a.succeeded, 0)
             / nullif(coalesce(a.succeeded, 0) + coalesce(a.failed, 0)
                      + coalesce(a.timed_out, 0), 0), 2) AS success_rate,
       round(a.duration_sum_ms::numeric / nullif(a.duration_count, 0), 1) AS avg_duration_ms,
       s.last_run_at, s.last_status, s.consecutive_failures, s.next_run_at,
       coalesce(a.timed_out, 0) AS timed_out,
       coalesce(a.awaiting_result, 0) AS awaiting_result
FROM workflow_schedules s LEFT JOIN agg a ON a.trigger_id = s.id;

DROP FUNCTION wfs_is_final(text);
