-- Workflow outcomes (issue 11): a target that answers 202 Accepted has started a workflow that
-- reports how it ended through `POST /api/executions/{id}/result`. The run is `accepted` until
-- the report, and ends `timed_out` when none (and no heartbeat) arrives in time.
--
-- pending → running → accepted → succeeded | failed | timed_out (docs/semantics.md).

ALTER TABLE workflow_schedule_executions
    DROP CONSTRAINT workflow_schedule_executions_status_check;
ALTER TABLE workflow_schedule_executions ADD CONSTRAINT workflow_schedule_executions_status_check
    CHECK (status IN ('pending', 'running', 'retrying', 'accepted', 'succeeded', 'failed',
                      'timed_out', 'skipped', 'missed', 'cancelled'));
-- When the target accepted the run (its 202 answer), what the workflow reported as its
-- output, and when an accepted run that neither reported nor sent a heartbeat times out.
ALTER TABLE workflow_schedule_executions
    ADD COLUMN accepted_at timestamptz,
    ADD COLUMN output jsonb,
    ADD COLUMN completion_deadline timestamptz;

-- An accepted run is unfinished: the overlap policies wait for it like for a running one.
DROP INDEX workflow_schedule_executions_unfinished_idx;
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id)
    WHERE status IN ('pending', 'running', 'retrying', 'accepted');
-- The timeout sweep and /metrics' count of runs awaiting a result.
CREATE INDEX workflow_schedule_executions_awaiting_idx
    ON workflow_schedule_executions (completion_deadline)
    WHERE status = 'accepted';

-- Reports, one per attempt of a run. The first report of an attempt is kept: the same report
-- again is answered as before (idempotent), a different one is refused (409). A report that
-- arrives before the worker has recorded the 202 it answers (a fast workflow) waits here,
-- `applied_at` NULL, and is applied in the transaction that records the 202.
CREATE TABLE workflow_execution_reports (
    execution_id  uuid NOT NULL,
    attempt       integer NOT NULL,
    tenant        text NOT NULL,
    status        text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error         text,
    output        jsonb,
    retryable     boolean NOT NULL DEFAULT false,
    reported_at   timestamptz NOT NULL,
    applied_at    timestamptz,
    PRIMARY KEY (execution_id, attempt)
);

-- completionTimeoutSeconds: how long an accepted run may go without a report or heartbeat.
-- Part of a run's spec (SPEC §2: a run keeps the limits its schedule had when it was created),
-- so the spec digest covers it.
ALTER TABLE workflow_schedules
    ADD COLUMN completion_timeout_seconds integer NOT NULL DEFAULT 3600
        CHECK (completion_timeout_seconds BETWEEN 1 AND 604800);
ALTER TABLE workflow_run_specs
    ADD COLUMN completion_timeout_seconds integer NOT NULL DEFAULT 3600;

CREATE FUNCTION wfs_run_spec_digest(
    trigger_id uuid, tenant text, input jsonb, target_url text, timeout_seconds double precision,
    max_attempts integer, retry_backoff_seconds double precision,
    completion_timeout_seconds integer
) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- The default timeout keeps the digest of the seven-field version, so existing specs stay
    -- current; any other value makes a new spec.
    SELECT CASE WHEN completion_timeout_seconds = 3600
        THEN wfs_run_spec_digest(trigger_id, tenant, input, target_url, timeout_seconds,
                                 max_attempts, retry_backoff_seconds)
        ELSE sha256(convert_to(jsonb_build_array(trigger_id, tenant, input, target_url,
                                                 timeout_seconds, max_attempts,
                                                 retry_backoff_seconds,
                                                 completion_timeout_seconds)::text, 'UTF8'))
    END
$$;

CREATE OR REPLACE FUNCTION wfs_run_specs_sync(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_run_specs p SET superseded_at = clock_timestamp()
    FROM workflow_schedules s
    WHERE s.id = ANY(ids) AND p.trigger_id = s.id AND p.superseded_at IS NULL
      AND p.digest <> wfs_run_spec_digest(s.id, s.tenant, s.input, s.target_url,
                                          s.timeout_seconds, s.max_attempts,
                                          s.retry_backoff_seconds,
                                          s.completion_timeout_seconds);
    INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url,
                                    timeout_seconds, max_attempts, retry_backoff_seconds,
                                    completion_timeout_seconds)
    SELECT wfs_run_spec_digest(s.id, s.tenant, s.input, s.target_url, s.timeout_seconds,
                               s.max_attempts, s.retry_backoff_seconds,
                               s.completion_timeout_seconds),
           s.id, s.tenant, s.input, s.target_url, s.timeout_seconds, s.max_attempts,
           s.retry_backoff_seconds, s.completion_timeout_seconds
    FROM workflow_schedules s WHERE s.id = ANY(ids)
    ORDER BY 1
    ON CONFLICT (digest) DO UPDATE SET superseded_at = NULL
        WHERE workflow_run_specs.superseded_at IS NOT NULL;
END;
$$;

CREATE OR REPLACE FUNCTION wfs_schedules_specs_on_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_run_specs (digest, trigger_id, tenant, input, target_url,
                                    timeout_seconds, max_attempts, retry_backoff_seconds,
                                    completion_timeout_seconds)
    SELECT wfs_run_spec_digest(n.id, n.tenant, n.input, n.target_url, n.timeout_seconds,
                               n.max_attempts, n.retry_backoff_seconds,
                               n.completion_timeout_seconds),
           n.id, n.tenant, n.input, n.target_url, n.timeout_seconds, n.max_attempts,
           n.retry_backoff_seconds, n.completion_timeout_seconds
    FROM new_rows n
    ORDER BY 1
    ON CONFLICT (digest) DO UPDATE SET superseded_at = NULL
        WHERE workflow_run_specs.superseded_at IS NOT NULL;
    RETURN NULL;
END;
$$;

DROP TRIGGER wfs_schedules_specs_update ON workflow_schedules;
CREATE TRIGGER wfs_schedules_specs_update
    AFTER UPDATE OF tenant, input, target_url, timeout_seconds, max_attempts,
                    retry_backoff_seconds, completion_timeout_seconds ON workflow_schedules
    FOR EACH ROW
    WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant OR OLD.input IS DISTINCT FROM NEW.input
          OR OLD.target_url IS DISTINCT FROM NEW.target_url
          OR OLD.timeout_seconds IS DISTINCT FROM NEW.timeout_seconds
          OR OLD.max_attempts IS DISTINCT FROM NEW.max_attempts
          OR OLD.retry_backoff_seconds IS DISTINCT FROM NEW.retry_backoff_seconds
          OR OLD.completion_timeout_seconds IS DISTINCT FROM NEW.completion_timeout_seconds)
    EXECUTE FUNCTION wfs_schedules_specs_on_update();

-- The key that derives each execution's callback token (HMAC of the execution id, see
-- app/domain/callbacks.py): made here, never leaves the database but for the API and the
-- workers, never logged. 244 random bits (two v4 UUIDs from PostgreSQL's strong random source).
CREATE TABLE scheduler_keys (
    name        text PRIMARY KEY,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO scheduler_keys (name, secret)
VALUES ('callback', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- Statistics: `timed_out` is a final status (and a failure); the time from acceptance to the
-- report is sampled when an accepted run ends (result_count, result_sum_ms, result_bucket/<b>).
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

-- The psql view (SPEC §6): timed_out counts as a failure, accepted as unfinished.
DROP VIEW schedule_stats;
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

DROP VIEW recent_executions;
CREATE VIEW recent_executions AS
SELECT e.id, e.trigger_id, e.workflow_id, e.tenant, e.scheduled_at, e.executed_at,
       e.finished_at, e.status, e.trigger, e.attempts, e.duration_ms, e.http_status,
       e.workflow_run_id, left(e.error, 200) AS error, e.accepted_at, e.completion_deadline
FROM workflow_schedule_executions e
WHERE e.scheduled_at > now() - interval '1 day'
ORDER BY e.scheduled_at DESC;
