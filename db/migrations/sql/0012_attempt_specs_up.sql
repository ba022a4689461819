-- What an execution's attempts send (issue 15): its own spec (input, target, limits: SPEC §2,
-- L4), or, for a run without a spec row (rows written by hand; retention keeps every spec a run
-- names), its schedule's current values. A run whose schedule is gone has no row here (its
-- attempts are cancelled instead: execution_cancel_orphans), nor one whose schedule is now
-- another tenant's.
-- A plain view: the planner flattens it into each query that reads it, so a query's filters on
-- id and scheduled_at reach the history's partitions and indexes as if the joins were written
-- in it (db/queries/executions.sql: execution_start_attempts, execution_read_started).
CREATE VIEW workflow_execution_attempt_specs AS
SELECT e.id, e.scheduled_at, e.tenant, e.trigger_id, e.workflow_id, e.fire_at, e.attempts,
       e.trigger, e.status,
       coalesce(p.input, s.input) AS input,
       CASE WHEN p.digest IS NULL THEN s.target_url ELSE p.target_url END AS target_url,
       coalesce(p.timeout_seconds, s.timeout_seconds) AS timeout_seconds,
       coalesce(p.max_attempts, s.max_attempts) AS max_attempts,
       coalesce(p.retry_backoff_seconds, s.retry_backoff_seconds) AS retry_backoff_seconds,
       coalesce(p.completion_timeout_seconds, s.completion_timeout_seconds)
           AS completion_timeout_seconds
FROM workflow_schedule_executions e
JOIN workflow_schedules s ON s.id = e.trigger_id AND s.tenant = e.tenant
LEFT JOIN workflow_run_specs p ON p.digest = e.spec_digest;

-- The runs of a schedule that are not finished: waiting (pending, buffered or not; retrying),
-- in an attempt, or accepted and awaiting their workflow's report. The one statement of the
-- rule the overlap policies and buffer_one decide by (db/queries/schedules.sql: the claim and
-- the wake-up; db/queries/executions.sql: the release of buffered runs). A plain view: it is
-- flattened into each query, whose own conditions (schedule, tenant, the unfinished floor)
-- then use the partial index on unfinished runs as before (migration 0008).
CREATE VIEW workflow_unfinished_executions AS
SELECT id, trigger_id, tenant, scheduled_at, status, buffered
FROM workflow_schedule_executions
WHERE status IN ('pending', 'running', 'retrying', 'accepted');
