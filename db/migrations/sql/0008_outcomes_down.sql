-- Back to 0007: runs awaiting or having timed out a result end `failed` (that status existed).
DROP VIEW IF EXISTS recent_executions;
DROP VIEW IF EXISTS schedule_stats;
UPDATE workflow_schedule_executions SET status = 'failed',
    finished_at = coalesce(finished_at, clock_timestamp()),
    error = coalesce(error, 'no result: the scheduler was downgraded while the run awaited it')
WHERE status IN ('accepted', 'timed_out');
ALTER TABLE workflow_schedule_executions
    DROP CONSTRAINT workflow_schedule_executions_status_check;
ALTER TABLE workflow_schedule_executions ADD CONSTRAINT workflow_schedule_executions_status_check
    CHECK (status IN ('pending', 'running', 'retrying', 'succeeded', 'failed',
                      'skipped', 'missed', 'cancelled'));
DROP INDEX IF EXISTS workflow_schedule_executions_awaiting_idx;
DROP INDEX IF EXISTS workflow_schedule_executions_unfinished_idx;
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id)
    WHERE status IN ('pending', 'running', 'retrying');
ALTER TABLE workflow_schedule_executions
    DROP COLUMN accepted_at, DROP COLUMN output, DROP COLUMN completion_deadline;
DROP TABLE IF EXISTS workflow_execution_reports;
DROP TABLE IF EXISTS scheduler_keys;

DROP TRIGGER IF EXISTS wfs_schedules_specs_update ON workflow_schedules;
CREATE TRIGGER wfs_schedules_specs_update
    AFTER UPDATE OF tenant, input, target_url, timeout_seconds, max_attempts,
                    retry_backoff_seconds ON workflow_schedules
    FOR EACH ROW
    WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant OR OLD.input IS DISTINCT FROM NEW.input
          OR OLD.target_url IS DISTINCT FROM NEW.target_url
          OR OLD.timeout_seconds IS DISTINCT FROM NEW.timeout_seconds
          OR OLD.max_attempts IS DISTINCT FROM NEW.max_attempts
          OR OLD.retry_backoff_seconds IS DISTINCT FROM NEW.retry_backoff_seconds)
    EXECUTE FUNCTION wfs_schedules_specs_on_update();
CREATE OR REPLACE FUNCTION wfs_run_specs_sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- First the supersede, then the insert: one current spec per schedule at every moment.
    UPDATE workflow_run_specs p SET superseded_at = clock_timestamp()
    FROM workflow_schedules s
    WHERE s.id = ANY(ids) AND p.trigger_id = s.id AND p.superseded_at IS NULL
      AND p.digest <> wfs_run_spec_digest(s.id, s.tenant, s.input, s.target_url,
                                          s.timeout_seconds, s.max_attempts,
                                          s.retry_backoff_seconds);
    INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url,
                                    timeout_seconds, max_attempts, retry_backoff_seconds)
    SELECT wfs_run_spec_digest(s.id, s.tenant, s.input, s.target_url, s.timeout_seconds,
                               s.max_attempts, s.retry_backoff_seconds),
           s.id, s.tenant, s.input, s.target_url, s.timeout_seconds, s.max_attempts,
           s.retry_backoff_seconds
    FROM workflow_schedules s WHERE s.id = ANY(ids)
    ORDER BY 1
    ON CONFLICT (digest) DO UPDATE SET superseded_at = NULL
        WHERE workflow_run_specs.superseded_at IS NOT NULL;
END;
$$;

CREATE OR REPLACE FUNCTION wfs_schedules_specs_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A new schedule has no current spec (a deleted one's were superseded by its delete), so
    -- this is wfs_run_specs_sync without the supersede, straight from the inserted rows.
    INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url,
                                    timeout_seconds, max_attempts, retry_backoff_seconds)
    SELECT wfs_run_spec_digest(n.id, n.tenant, n.input, n.target_url, n.timeout_seconds,
                               n.max_attempts, n.retry_backoff_seconds),
           n.id, n.tenant, n.input, n.target_url, n.timeout_seconds, n.max_attempts,
           n.retry_backoff_seconds
    FROM new_rows n
    ORDER BY 1
    ON CONFLICT (digest) DO UPDATE SET superseded_at = NULL
        WHERE workflow_run_specs.superseded_at IS NOT NULL;
    RETURN NULL;
END;
$$;

DROP FUNCTION IF EXISTS wfs_run_spec_digest(uuid, text, jsonb, text, double precision, integer,
                                            double precision, integer);
ALTER TABLE workflow_run_specs DROP COLUMN completion_timeout_seconds;
ALTER TABLE workflow_schedules DROP COLUMN completion_timeout_seconds;

CREATE OR REPLACE FUNCTION wfs_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs are normally inserted unfinished (or missed/skipped, without a duration); rows
    -- inserted already finished with a duration (imports, tests) are counted the same way.
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, 1::bigint AS value
        FROM new_rows
        UNION ALL
        SELECT trigger_id, tenant, 'finished', status, 1 FROM new_rows
        WHERE status IN ('succeeded', 'failed', 'skipped', 'missed', 'cancelled')
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
               n.executed_at AS new_executed_at,
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
          AND new_status IN ('succeeded', 'failed', 'skipped', 'missed', 'cancelled')
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
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;

CREATE VIEW schedule_stats AS
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
           sum(value) FILTER (WHERE metric = 'status' AND key = 'skipped') AS skipped,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'missed') AS missed,
           sum(value) FILTER (WHERE metric = 'status'
                              AND key IN ('pending', 'running', 'retrying')) AS unfinished,
           sum(value) FILTER (WHERE metric = 'duration_sum_ms') AS duration_sum_ms,
           sum(value) FILTER (WHERE metric = 'duration_count') AS duration_count
    FROM v GROUP BY trigger_id
)
SELECT s.id AS trigger_id, s.workflow_id, s.tenant, s.state, s.cron_expression, s.timezone,
       coalesce(a.total, 0) AS total, coalesce(a.succeeded, 0) AS succeeded,
       coalesce(a.failed, 0) AS failed, coalesce(a.skipped, 0) AS skipped,
       coalesce(a.missed, 0) AS missed, coalesce(a.unfinished, 0) AS unfinished,
       round(100.0 * a.succeeded / nullif(a.succeeded + a.failed, 0), 2) AS success_rate,
       round(a.duration_sum_ms::numeric / nullif(a.duration_count, 0), 1) AS avg_duration_ms,
       s.last_run_at, s.last_status, s.consecutive_failures, s.next_run_at
FROM workflow_schedules s LEFT JOIN agg a ON a.trigger_id = s.id;

CREATE VIEW recent_executions AS
SELECT e.id, e.trigger_id, e.workflow_id, e.tenant, e.scheduled_at, e.executed_at,
       e.finished_at, e.status, e.trigger, e.attempts, e.duration_ms, e.http_status,
       e.workflow_run_id, left(e.error, 200) AS error
FROM workflow_schedule_executions e
WHERE e.scheduled_at > now() - interval '1 day'
ORDER BY e.scheduled_at DESC;
