-- Unfinished runs are not counted per schedule by deltas (issue 13). A run's pending/running/
-- retrying/accepted count was a +1 delta of its schedule when it started and a -1 when it ended:
-- two of the six per-schedule delta rows each fired slot cost (inserted by the triggers, then
-- deleted by the fold).
-- - Per schedule, the readers (db/queries/stats.sql, the psql view) count the schedule's
--   unfinished runs where they are (workflow_unfinished_executions above the unfinished floor:
--   the partial index of unfinished runs), in the same snapshot as the folded values.
-- - Per tenant and for the deployment, each statement appends its changes summed per tenant and
--   status to workflow_stat_tenant_deltas (one row per tenant and status per statement, not
--   per schedule), which the fold moves into the 't:' and 'g' scopes: /metrics and a tenant's
--   statistics stay reads of a few rows, whatever the number of unfinished runs (another
--   tenant's backlog included).
-- A slot costs 4 per-schedule delta rows (succeeded or failed, and its duration) instead of 6.

-- Writers wait for the move of the counts below (a trigger of the old revision committing
-- after it would leave a delta nobody takes away).
LOCK TABLE workflow_schedule_executions IN SHARE ROW EXCLUSIVE MODE;
-- And a fold waits too: it would move the deltas being moved here a second time.
LOCK TABLE workflow_schedule_stat_deltas IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE workflow_stat_tenant_deltas (
    id      bigserial PRIMARY KEY,
    tenant  text NOT NULL,
    metric  text NOT NULL,
    key     text NOT NULL DEFAULT '',
    value   bigint NOT NULL
);
CREATE INDEX workflow_stat_tenant_deltas_tenant_idx ON workflow_stat_tenant_deltas (tenant);

-- A status a run keeps once reached (app/domain/execution.py FinalStatus).
CREATE FUNCTION wfs_is_final(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')
$$;

-- The triggers' functions of this revision: 0013_stats_triggers.sql (also what 0021 goes
-- back to).

-- For the finished rows a retirement drops (its unfinished rows move to the DEFAULT partition
-- by statements on the partitions, which fire none of these statement triggers).
CREATE OR REPLACE FUNCTION wfs_stats_delete_samples(
    run_trigger_id uuid, run_tenant text, run_status text, run_duration_ms integer
) RETURNS TABLE (trigger_id uuid, tenant text, metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT run_trigger_id, run_tenant, 'status', run_status, -1::bigint
    WHERE wfs_is_final(run_status)
    UNION ALL
    SELECT run_trigger_id, run_tenant, m.metric, m.key, m.value
    FROM wfs_duration_samples(run_duration_ms, -1, false) AS m
    WHERE run_status IN ('succeeded', 'failed') AND run_duration_ms IS NOT NULL
$$;

-- The psql view (SPEC §6) counts a schedule's unfinished runs live too.
CREATE OR REPLACE VIEW schedule_stats AS
WITH v AS (
    SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
    FROM workflow_schedule_stat_values WHERE scope LIKE 's:%'
    UNION ALL
    SELECT trigger_id, metric, key, value FROM workflow_schedule_stat_deltas
    UNION ALL
    SELECT trigger_id, 'status', status, count(*) FROM workflow_unfinished_executions
    WHERE scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
    GROUP BY trigger_id, status
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

-- The unfinished counts kept so far: per schedule, they are what the executions table holds
-- (each +1 had its -1 when the run ended), so they go; per tenant and in total, the folded
-- values stay and the deltas not folded yet continue as tenant deltas.
INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
SELECT tenant, 'status', key, sum(value) FROM workflow_schedule_stat_deltas
WHERE metric = 'status' AND NOT wfs_is_final(key)
GROUP BY 1, 3 HAVING sum(value) <> 0;
DELETE FROM workflow_schedule_stat_deltas
WHERE metric = 'status' AND NOT wfs_is_final(key);
DELETE FROM workflow_schedule_stat_values
WHERE scope LIKE 's:%' AND metric = 'status' AND NOT wfs_is_final(key);
