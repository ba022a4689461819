-- Workflow outcomes (issue 11): the reports and heartbeats of accepted runs, and their timeout.
-- A report, a heartbeat and the timeout sweep of one run all lock its row first, so exactly one
-- of them decides how the run ends, whatever the order they arrive in (docs/semantics.md).

-- name: callback_key
-- The key each execution's callback token is derived from (migration 0008).
SELECT secret FROM scheduler_keys WHERE name = 'callback';

-- name: execution_tenant
-- Whose run this is: a callback token proves the run, the row names its tenant.
SELECT tenant FROM workflow_schedule_executions WHERE id = %(id)s;

-- name: execution_lock_for_outcome
-- The run a report or heartbeat is about, locked to the end of the transaction, with the
-- limits of its own spec (SPEC §2: a run keeps the limits its schedule had when it was made)
-- and the time that decides: the caller's `now`, else the database clock.
SELECT e.*,
       coalesce(%(now)s::timestamptz, clock_timestamp()) AS db_now,
       coalesce(p.completion_timeout_seconds, s.completion_timeout_seconds, 3600)
           AS completion_timeout_seconds,
       coalesce(p.max_attempts, s.max_attempts, 1) AS max_attempts,
       coalesce(p.retry_backoff_seconds, s.retry_backoff_seconds, 10) AS retry_backoff_seconds
FROM workflow_schedule_executions e
LEFT JOIN workflow_run_specs p ON p.digest = e.spec_digest
LEFT JOIN workflow_schedules s ON s.id = e.trigger_id AND s.tenant = e.tenant
WHERE e.id = %(id)s AND e.tenant = %(tenant)s
FOR UPDATE OF e;

-- name: report_get
SELECT * FROM workflow_execution_reports
WHERE execution_id = %(id)s AND attempt = %(attempt)s;

-- name: report_insert
-- The first report of an attempt (the primary key refuses a second one: the caller has
-- locked the run and looked first, so that never happens but in a bug).
INSERT INTO workflow_execution_reports (
    execution_id, attempt, tenant, status, error, output, retryable, reported_at, applied_at
) VALUES (
    %(id)s, %(attempt)s, %(tenant)s, %(status)s, %(error)s, %(output)s, %(retryable)s,
    %(at)s, CASE WHEN %(applied)s THEN %(at)s END
);

-- name: reports_waiting
-- Reports that arrived before the 202 they follow was recorded (a workflow faster than the
-- recording), for the runs the caller has just made `accepted`.
SELECT r.execution_id, r.attempt, r.status, r.error, r.output, r.retryable, r.reported_at
FROM workflow_execution_reports r
JOIN unnest(%(ids)s::uuid[], %(attempts)s::integer[]) AS u(id, attempt)
    ON r.execution_id = u.id AND r.attempt = u.attempt
WHERE r.applied_at IS NULL;

-- name: report_mark_applied
UPDATE workflow_execution_reports SET applied_at = coalesce(%(now)s, clock_timestamp())
WHERE execution_id = %(id)s AND attempt = %(attempt)s;

-- name: execution_conclude
-- How an accepted run ends: the report's outcome (succeeded, failed, or retrying after a
-- retryable failure), or timed_out. `at` is when it ended: the report's arrival, or the
-- deadline that passed. The duration of a run that ends is the workflow's, from its first
-- attempt's start to that moment; a timed-out run has none (nobody knows when it ended).
UPDATE workflow_schedule_executions AS e SET
    status = %(status)s,
    error = %(error)s,
    output = %(output)s,
    finished_at = CASE WHEN %(status)s <> 'retrying' THEN %(at)s::timestamptz END,
    duration_ms = CASE WHEN %(status)s IN ('succeeded', 'failed')
        THEN greatest(0, round(extract(epoch FROM %(at)s::timestamptz - e.started_at) * 1000))
        END,
    next_attempt_at = CASE WHEN %(status)s = 'retrying'
        THEN %(at)s::timestamptz + make_interval(secs => %(retry_delay)s) END,
    completion_deadline = NULL
-- The status in a CASE, as in execution_finish_many and for its reason: the run by its
-- primary key, never by a walk of a partial index whose predicate `status = 'accepted'`
-- would match (that of unfinished runs), every entry of a run ended since the last vacuum
-- included.
-- Its slot, the partition key, from the run the caller has locked: its own partition's
-- primary key only, not every partition's (one a day, retention's days and those made ahead).
WHERE e.id = %(id)s AND e.scheduled_at = %(scheduled_at)s
  AND CASE WHEN e.status = 'accepted' THEN true ELSE false END
-- In the order of EndedRun's fields (db/repositories/executions.py).
RETURNING e.id, e.trigger_id, e.status, e.started_at, e.next_attempt_at, e.attempts,
          e.trigger;

-- name: execution_extend_deadline
-- A heartbeat: the workflow is alive, its deadline moves to now + completionTimeoutSeconds.
UPDATE workflow_schedule_executions
SET completion_deadline = %(deadline)s
WHERE id = %(id)s AND scheduled_at = %(scheduled_at)s  -- as above
  AND CASE WHEN status = 'accepted' THEN true ELSE false END;

-- name: executions_time_out_due
-- The timeout sweep: accepted runs whose deadline has passed end `timed_out` at their deadline.
-- SKIP LOCKED: a run whose report (or heartbeat) holds its lock is left to that report, which
-- applies the same deadline rule itself; several workers may sweep at once.
UPDATE workflow_schedule_executions AS e SET
    status = 'timed_out',
    finished_at = e.completion_deadline,
    error = %(error)s,
    completion_deadline = NULL
-- An array of the due runs' ids, taken once (an InitPlan) and then looked up in each
-- partition's primary key. As a join (`e.id IN (SELECT ...)`), the generic plan of the
-- prepared sweep, which cannot know how few the LIMIT leaves, hashed the whole history to
-- find them (~130 ms beside 130,000 runs; 30 rows read this way).
WHERE e.id = ANY(ARRAY(
    SELECT id FROM workflow_schedule_executions
    WHERE status = 'accepted'
      -- (SELECT ...): a constant of the query, so the index of accepted runs by deadline is
      -- searched up to it; a bare clock_timestamp() is volatile, a filter on a walk of every
      -- accepted run (one tenant's 200,000 awaiting their reports: ~45 ms a sweep).
      AND completion_deadline <= (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()))
    ORDER BY completion_deadline
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
))
-- In the order of EndedRun's fields (db/repositories/executions.py).
RETURNING e.id, e.trigger_id, e.status, e.started_at, e.next_attempt_at, e.attempts,
          e.trigger;

-- name: executions_awaiting_result
-- /metrics: runs awaiting their workflow's report, counted up to `cap` (the partial index on
-- accepted runs bounds the work, M5).
SELECT count(*)::bigint AS n FROM (
    SELECT 1 FROM workflow_schedule_executions
    WHERE status = 'accepted'
    LIMIT %(cap)s
) AS awaiting;
