-- name: execution_insert_many
-- One row per slot. ON CONFLICT DO NOTHING on (trigger_id, scheduled_at) is what makes a slot
-- fire at most once whatever races between dispatchers, backfills and restarts (SPEC §4.1):
-- the row that loses the race is simply not inserted, and gets no job.
-- Ids and job ids may come with the rows (the dispatcher defers the jobs first, so it writes
-- each row once); otherwise the id is generated here and the job set afterwards.
INSERT INTO workflow_schedule_executions (
    id, trigger_id, workflow_id, tenant, scheduled_at, fire_at, status, trigger, error, buffered,
    input, job_id, finished_at
)
SELECT coalesce(u.id, gen_random_uuid()), u.trigger_id, u.workflow_id, u.tenant,
       u.scheduled_at, u.fire_at, u.status, u.trigger, u.error, u.buffered, u.input, u.job_id,
       CASE WHEN u.status IN ('missed', 'skipped') THEN clock_timestamp() END
FROM unnest(
    %(ids)s::uuid[], %(trigger_ids)s::uuid[], %(workflow_ids)s::text[], %(tenants)s::text[],
    %(scheduled_ats)s::timestamptz[], %(fire_ats)s::timestamptz[], %(statuses)s::text[],
    %(triggers)s::text[], %(errors)s::text[], %(buffereds)s::boolean[], %(inputs)s::jsonb[],
    %(job_ids)s::bigint[]
) AS u(id, trigger_id, workflow_id, tenant, scheduled_at, fire_at, status, trigger, error,
       buffered, input, job_id)
ON CONFLICT (trigger_id, scheduled_at) DO NOTHING
RETURNING id, trigger_id, scheduled_at, status, buffered;

-- name: execution_set_jobs
UPDATE workflow_schedule_executions AS e SET job_id = u.job_id
FROM unnest(%(ids)s::uuid[], %(job_ids)s::bigint[]) AS u(id, job_id)
WHERE e.id = u.id;

-- name: execution_start_attempts
-- Claims the runs of one batch job for an attempt. A run is taken when it waits (pending or
-- retrying, and its next attempt is due) or when it is `running` but its job is being run again
-- (the worker that had it died: at-least-once, same Idempotency-Key). Runs whose schedule was
-- deleted are cancelled instead (see execution_cancel_orphans).
UPDATE workflow_schedule_executions AS e SET
    status = 'running',
    attempts = e.attempts + 1,
    -- A run dispatched ahead of its instant starts at the instant (the executor waits for it).
    started_at = coalesce(e.started_at, greatest(clock_timestamp(), e.fire_at)),
    executed_at = coalesce(e.executed_at, greatest(clock_timestamp(), e.fire_at)),
    next_attempt_at = NULL
FROM workflow_schedules s
WHERE e.id = ANY(%(ids)s::uuid[])
  AND s.id = e.trigger_id
  AND NOT e.buffered
  AND (e.status = 'running'
       OR (e.status IN ('pending', 'retrying')
           AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= clock_timestamp()
                                              + interval '200 milliseconds')))
RETURNING e.id, e.trigger_id, e.workflow_id, e.scheduled_at, e.fire_at, e.attempts, e.trigger,
          e.input, e.tenant, s.target_url, s.timeout_seconds, s.max_attempts,
          s.retry_backoff_seconds, clock_timestamp() AS db_now;

-- name: execution_cancel_orphans
-- Runs of a deleted schedule end `cancelled`, not silently pending forever.
UPDATE workflow_schedule_executions AS e SET
    status = 'cancelled', finished_at = clock_timestamp(),
    error = coalesce(e.error, 'cancelled: the schedule was deleted')
WHERE e.id = ANY(%(ids)s::uuid[])
  AND e.status IN ('pending', 'running', 'retrying')
  AND NOT EXISTS (SELECT 1 FROM workflow_schedules s WHERE s.id = e.trigger_id)
RETURNING e.id;

-- name: execution_finish_many
-- Records the outcome of one attempt for many runs at once. Terminal outcomes set finished_at;
-- a retry sets when the next attempt may start, on the database clock. Only the attempt that
-- is still the run's current one is recorded: a finish retried after a database outage must
-- not overwrite a run that recovery has meanwhile started again.
UPDATE workflow_schedule_executions AS e SET
    status = u.status,
    http_status = u.http_status,
    error = u.error,
    workflow_run_id = coalesce(u.workflow_run_id, e.workflow_run_id),
    duration_ms = u.duration_ms,
    next_attempt_at = CASE WHEN u.retry_delay IS NOT NULL
        THEN clock_timestamp() + make_interval(secs => u.retry_delay) END,
    finished_at = CASE WHEN u.status IN ('succeeded', 'failed') THEN clock_timestamp() END
FROM unnest(
    %(ids)s::uuid[], %(statuses)s::text[], %(http_statuses)s::integer[], %(errors)s::text[],
    %(workflow_run_ids)s::text[], %(durations)s::integer[], %(retry_delays)s::float8[],
    %(attempts)s::integer[]
) AS u(id, status, http_status, error, workflow_run_id, duration_ms, retry_delay, attempt)
WHERE e.id = u.id AND e.status = 'running' AND e.attempts = u.attempt
RETURNING e.id, e.trigger_id, e.status, e.started_at, e.next_attempt_at;

-- name: schedule_lock_many
-- Row locks on several schedules, taken in id order. Finishers that record outcomes of
-- overlapping sets of schedules at the same moment (a catch-up burst next to a regular batch)
-- then wait for each other instead of deadlocking, as they did when the UPDATE below took its
-- locks in whatever order its plan visited the rows.
SELECT id FROM workflow_schedules
WHERE id = ANY(%(ids)s::uuid[])
ORDER BY id
FOR NO KEY UPDATE;

-- name: schedule_record_outcomes
-- After runs end: each schedule's last run, last status and consecutive-failure streak (the
-- caller summarises a batch per schedule: its trailing failures, and whether a success reset
-- the streak). pauseAfterFailures pauses a schedule whose streak reaches it, with a note saying
-- so (SPEC §2); that is a change of the schedule, so its version moves.
UPDATE workflow_schedules AS s SET
    last_status = c.last_status,
    last_run_at = greatest(s.last_run_at, c.last_run_at),
    consecutive_failures = c.streak,
    enabled = CASE WHEN c.pause THEN false ELSE s.enabled END,
    state = CASE WHEN c.pause THEN 'paused' ELSE s.state END,
    next_run_at = CASE WHEN c.pause THEN NULL ELSE s.next_run_at END,
    next_fire_at = CASE WHEN c.pause THEN NULL ELSE s.next_fire_at END,
    pause_note = CASE WHEN c.pause
        THEN format('auto-paused after %%s consecutive failed runs', c.streak)
        ELSE s.pause_note END,
    version = s.version + CASE WHEN c.pause THEN 1 ELSE 0 END,
    updated_at = CASE WHEN c.pause THEN clock_timestamp() ELSE s.updated_at END
FROM (
    SELECT cur.id, m.last_status, m.last_run_at, streaks.streak,
           (cur.state = 'active' AND cur.pause_after_failures IS NOT NULL
            AND streaks.streak >= cur.pause_after_failures) AS pause
    FROM unnest(
        %(trigger_ids)s::uuid[], %(last_statuses)s::text[], %(last_run_ats)s::timestamptz[],
        %(trailing_failures)s::integer[], %(resets)s::boolean[]
    ) AS m(trigger_id, last_status, last_run_at, trailing_failures, reset)
    JOIN workflow_schedules cur ON cur.id = m.trigger_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN m.reset THEN m.trailing_failures
                    ELSE cur.consecutive_failures + m.trailing_failures END AS streak
    ) AS streaks
) AS c
WHERE s.id = c.id
RETURNING s.id, c.pause AS paused;

-- name: execution_release_buffered
-- buffer_one: when a schedule's runs are all finished, the run that waited becomes a normal
-- pending run (the caller defers its job in the same transaction).
UPDATE workflow_schedule_executions AS e SET buffered = false
WHERE e.id IN (
    SELECT b.id FROM workflow_schedule_executions b
    WHERE b.trigger_id = ANY(%(trigger_ids)s::uuid[]) AND b.status = 'pending' AND b.buffered
      AND NOT EXISTS (
          SELECT 1 FROM workflow_schedule_executions a
          WHERE a.trigger_id = b.trigger_id AND a.status IN ('pending', 'running', 'retrying')
            AND NOT a.buffered)
      -- only the oldest waiting run of a schedule
      AND NOT EXISTS (
          SELECT 1 FROM workflow_schedule_executions o
          WHERE o.trigger_id = b.trigger_id AND o.status = 'pending' AND o.buffered
            AND (o.scheduled_at, o.id) < (b.scheduled_at, b.id))
    FOR UPDATE SKIP LOCKED
)
RETURNING e.id;

-- name: execution_find_orphans
-- The safety net of the recovery sweep: unfinished runs whose job is gone or has ended
-- (a cancelled task, a bug, a job deleted by hand). Their job is deferred again.
SELECT e.id, e.next_attempt_at
FROM workflow_schedule_executions e
LEFT JOIN procrastinate_jobs j ON j.id = e.job_id
WHERE e.status IN ('pending', 'running', 'retrying')
  AND NOT e.buffered
  AND e.created_at < clock_timestamp() - make_interval(secs => %(min_age_seconds)s)
  AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing'))
ORDER BY e.created_at
LIMIT %(limit)s
FOR UPDATE OF e SKIP LOCKED;

-- name: execution_find_unreleased_buffered
-- buffer_one runs left waiting although nothing of their schedule runs any more (the finisher
-- crashed between the two steps): released by the recovery sweep.
SELECT DISTINCT b.trigger_id
FROM workflow_schedule_executions b
WHERE b.status = 'pending' AND b.buffered
  AND NOT EXISTS (
      SELECT 1 FROM workflow_schedule_executions a
      WHERE a.trigger_id = b.trigger_id AND a.status IN ('pending', 'running', 'retrying')
        AND NOT a.buffered)
LIMIT %(limit)s;

-- name: execution_get
SELECT * FROM workflow_schedule_executions WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: execution_list
-- A schedule's history, newest first, keyset-paginated on scheduled_at (unique per schedule,
-- so the slot key's own index serves it backwards).
SELECT * FROM workflow_schedule_executions
WHERE trigger_id = %(trigger_id)s AND tenant = %(tenant)s
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(before_scheduled_at)s::timestamptz IS NULL
       OR scheduled_at < %(before_scheduled_at)s::timestamptz)
ORDER BY scheduled_at DESC
LIMIT %(limit)s;
