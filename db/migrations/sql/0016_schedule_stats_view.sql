-- The psql view schedule_stats of revision 0016 (a schedule's average duration divides by its
-- buckets' sum), run by its upgrade and by 0021's downgrade (0017-0020 did not change it).

CREATE OR REPLACE VIEW schedule_stats AS
WITH v AS (
    SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
    FROM workflow_schedule_stat_values WHERE scope LIKE 's:%'
    UNION ALL
    SELECT trigger_id, metric, key, value FROM workflow_schedule_stat_deltas
    UNION ALL
    SELECT trigger_id, 'status', status, count(*) FROM workflow_schedule_executions
    WHERE status IN ('pending', 'running', 'retrying', 'accepted')
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
           sum(value) FILTER (WHERE metric = 'duration_bucket') AS duration_count
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
