-- A finished run's statistics of its schedule in one delta row, not three (issue 13).
--
-- Each succeeded or failed run wrote its schedule three narrow delta rows (its status, its
-- duration's sum, its duration's bucket), each with three index entries, which the fold then
-- read and deleted: 40 us of PostgreSQL per fired slot for the triggers' inserts and a share of
-- the fold's 41 (docs/benchmarks.md, pg_stat_statements with track = all). Now the triggers
-- write one row per schedule, final status and duration bucket of a statement: a count of runs
-- (+ reached, - left) and their durations' sum. `wfs_outcome_metrics` expands it into the
-- narrow (metric, key, value) samples the values and the readers have always used, and the
-- view `workflow_schedule_unfolded_stats` shows both kinds of deltas narrow, so a reader asks
-- one relation. The narrow table stays for what is not a run's outcome (incidents' counters,
-- the statistics a partition's retirement takes away).
--
-- No lock: a trigger of the old revision still committing writes narrow deltas, which every
-- reader and the fold keep reading.

CREATE TABLE workflow_schedule_outcome_deltas (
    id               bigserial PRIMARY KEY,
    trigger_id       uuid NOT NULL,
    tenant           text NOT NULL,
    status           text NOT NULL,
    runs             bigint NOT NULL,
    -- NULL: the runs have no duration (only succeeded and failed runs with one are timed).
    duration_bucket  text,
    duration_sum_ms  bigint NOT NULL DEFAULT 0
);
CREATE INDEX workflow_schedule_outcome_deltas_trigger_idx
    ON workflow_schedule_outcome_deltas (trigger_id);
CREATE INDEX workflow_schedule_outcome_deltas_tenant_idx
    ON workflow_schedule_outcome_deltas (tenant);

-- The bucket a run's duration counts in, NULL when it is not timed (as wfs_duration_samples).
CREATE FUNCTION wfs_outcome_bucket(status text, ms integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN status IN ('succeeded', 'failed') AND ms IS NOT NULL
                THEN wfs_bucket(ms) END
$$;

-- One outcome delta as the narrow samples it stands for; what sums to 0 is left out.
CREATE FUNCTION wfs_outcome_metrics(
    status text, runs bigint, duration_bucket text, duration_sum_ms bigint
) RETURNS TABLE (metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT m.metric, m.key, m.value FROM (VALUES
        ('status', status, runs),
        ('duration_sum_ms', '', CASE WHEN duration_bucket IS NOT NULL THEN duration_sum_ms END),
        ('duration_bucket', duration_bucket,
         CASE WHEN duration_bucket IS NOT NULL THEN runs END)
    ) AS m(metric, key, value)
    WHERE m.value <> 0
$$;

-- A schedule's deltas not folded yet, narrow: what the readers add to the folded values.
CREATE VIEW workflow_schedule_unfolded_stats AS
SELECT trigger_id, tenant, metric, key, value FROM workflow_schedule_stat_deltas
UNION ALL
SELECT d.trigger_id, d.tenant, m.metric, m.key, m.value
FROM workflow_schedule_outcome_deltas d,
     LATERAL wfs_outcome_metrics(d.status, d.runs, d.duration_bucket, d.duration_sum_ms) AS m;

CREATE OR REPLACE FUNCTION wfs_stats_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_schedule_outcome_deltas
        (trigger_id, tenant, status, runs, duration_bucket, duration_sum_ms)
    SELECT trigger_id, tenant, status, -count(*), bucket,
           CASE WHEN bucket IS NOT NULL THEN -sum(duration_ms) ELSE 0 END
    FROM (SELECT trigger_id, tenant, status, duration_ms,
                 wfs_outcome_bucket(status, duration_ms) AS bucket
          FROM old_rows WHERE wfs_is_final(status)) AS ended
    GROUP BY trigger_id, tenant, status, bucket;
    INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
    SELECT tenant, 'status', status, -count(*) FROM old_rows WHERE NOT wfs_is_final(status)
    GROUP BY 1, 3;
    RETURN NULL;
END;
$$;

-- The psql view reads both kinds of deltas.
CREATE OR REPLACE VIEW schedule_stats AS
WITH v AS (
    SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
    FROM workflow_schedule_stat_values WHERE scope LIKE 's:%'
    UNION ALL
    SELECT trigger_id, metric, key, value FROM workflow_schedule_unfolded_stats
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
