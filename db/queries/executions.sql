-- name: execution_insert_many
-- One row per slot. ON CONFLICT DO NOTHING on (trigger_id, scheduled_at) is what makes a slot
-- fire at most once whatever races between dispatchers, backfills and restarts (SPEC §4.1):
-- the row that loses the race is simply not inserted, and gets no job.
-- Ids and job ids may come with the rows (the dispatcher defers the jobs first, so it writes
-- each row once); otherwise the id is generated here and the job set afterwards.
-- A run that will be sent names its schedule's current spec (input, target, limits: kept by
-- triggers on workflow_schedules, db/migrations/sql/0005_tenancy_up.sql); it keeps that spec
-- whatever later happens to the schedule (SPEC §2). Skipped and missed rows send nothing and
-- name no spec (H3). The spec must be of the row's own tenant (M1).
-- A row inserted `running` is the first attempt of a run its dispatcher runs itself (its job
-- is claimed `doing` in this transaction, app/services/dispatch.py): it is written started,
-- like execution_start_attempts would, so that its start costs no second row version.
INSERT INTO workflow_schedule_executions (
    id, trigger_id, workflow_id, tenant, scheduled_at, fire_at, status, trigger, error, buffered,
    spec_digest, job_id, finished_at, attempts, started_at, executed_at
)
SELECT coalesce(u.id, wfs_run_id(t.now)), u.trigger_id, u.workflow_id, u.tenant,
       u.scheduled_at, u.fire_at, u.status, u.trigger, u.error, u.buffered,
       CASE WHEN u.status NOT IN ('missed', 'skipped') THEN p.digest END, u.job_id,
       CASE WHEN u.status IN ('missed', 'skipped') THEN t.now END,
       CASE WHEN u.status = 'running' THEN 1 ELSE 0 END,
       CASE WHEN u.status = 'running' THEN greatest(t.now, u.fire_at) END,
       CASE WHEN u.status = 'running' THEN greatest(t.now, u.fire_at) END
FROM (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now) AS t,
    unnest(
    %(ids)b::uuid[], %(trigger_ids)b::uuid[], %(workflow_ids)b::text[], %(tenants)b::text[],
    %(scheduled_ats)b::timestamptz[], %(fire_ats)b::timestamptz[], %(statuses)b::text[],
    %(triggers)b::text[], %(errors)b::text[], %(buffereds)b::boolean[], %(job_ids)b::bigint[]
) AS u(id, trigger_id, workflow_id, tenant, scheduled_at, fire_at, status, trigger, error,
       buffered, job_id)
LEFT JOIN workflow_run_specs p
    ON p.trigger_id = u.trigger_id AND p.tenant = u.tenant AND p.superseded_at IS NULL
ON CONFLICT (trigger_id, scheduled_at) DO NOTHING
-- In the order of InsertedRun's fields (db/repositories/executions.py).
RETURNING id, trigger_id, scheduled_at, status, buffered;

-- name: execution_set_jobs
UPDATE workflow_schedule_executions AS e SET job_id = u.job_id
FROM unnest(%(ids)s::uuid[], %(job_ids)s::bigint[]) AS u(id, job_id)
WHERE e.id = u.id;

-- name: execution_keys_near
-- The full primary keys (id, scheduled_at) of runs known by id, looked for only in the
-- partitions of [from, until): the history is partitioned by slot time (migration 0010), and
-- a lookup by id alone reads every partition's index. The caller looks for the ids not found
-- here with execution_keys_anywhere.
SELECT id, scheduled_at FROM workflow_schedule_executions
WHERE id = ANY(%(ids)s::uuid[])
  AND scheduled_at >= %(from)s::timestamptz AND scheduled_at < %(until)s::timestamptz;

-- name: execution_keys_anywhere
-- The same in every partition (a run whose slot is far from now: a backfill, a late retry).
SELECT id, scheduled_at FROM workflow_schedule_executions WHERE id = ANY(%(ids)s::uuid[]);

-- name: execution_start_attempts
-- Claims the runs of one batch job for an attempt. A run is taken when it waits (pending or
-- retrying, and its next attempt is due) or when it is `running` but its job is being run again
-- (the worker that had it died: at-least-once, same Idempotency-Key). Runs whose schedule was
-- deleted are cancelled instead (see execution_cancel_orphans).
-- What the attempt sends and how it retries come from the run's own spec
-- (workflow_execution_attempt_specs, migration 0012). A run to the schedule's own targetUrl is
-- signed with its tenant's keys valid now, newest first (two during a rotation); a run to the
-- default target gets none (NULL: it is signed with the deployment secret).
-- Each run is looked up by its whole key and locked (`taken`), as execution_batch_runs looks
-- its runs up and for its reason (a crowded instant's runs are counted as one by statistics
-- that predate them); the conditions are tested there, under the lock (on the newest version
-- of the row). The UPDATE then has no condition of its own but the keys and their slots:
-- given the run's status to test as well, the planner counted its scan as one row and read
-- every run of the instant first. A run whose schedule is gone is locked, not started (the
-- view joins the schedule); the lock ends with the batch start's transaction.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now),
taken AS MATERIALIZED (
    SELECT r.*
    FROM unnest(%(ids)b::uuid[], %(id_slots)b::timestamptz[]) AS k(id, scheduled_at),
         LATERAL (SELECT e.id, e.scheduled_at
                  FROM workflow_schedule_executions e, t
                  WHERE e.id = k.id AND e.scheduled_at = k.scheduled_at
                    AND e.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
                    AND NOT e.buffered
                    AND (e.status = 'running'
                         OR (e.status IN ('pending', 'retrying')
                             AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= t.now
                                                                + interval '200 milliseconds')))
                  OFFSET 0
                  FOR NO KEY UPDATE OF e) AS r
)
UPDATE workflow_schedule_executions AS e SET
    status = 'running',
    attempts = e.attempts + 1,
    -- A run dispatched ahead of its instant starts at the instant (the executor waits for it).
    started_at = coalesce(e.started_at, greatest(t.now, e.fire_at)),
    executed_at = coalesce(e.executed_at, greatest(t.now, e.fire_at)),
    next_attempt_at = NULL
FROM taken AS w, workflow_execution_attempt_specs AS r, t
WHERE e.id = w.id AND e.scheduled_at = w.scheduled_at
  AND r.id = w.id AND r.scheduled_at = w.scheduled_at
  -- The slots of the runs (execution_keys_*) keep both scans to their partitions.
  AND e.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
  AND r.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
RETURNING e.id, e.trigger_id, e.workflow_id, e.scheduled_at, e.fire_at, e.attempts, e.trigger,
          e.tenant, r.input, r.target_url, r.timeout_seconds, r.max_attempts,
          r.retry_backoff_seconds, r.completion_timeout_seconds,
          CASE WHEN r.target_url IS NOT NULL THEN coalesce(
              (SELECT array_agg(k.secret ORDER BY k.created_at DESC)
               FROM tenant_signing_keys k
               WHERE k.tenant = e.tenant
                 AND (k.expires_at IS NULL OR k.expires_at > t.now)),
              '{}'::text[]) END AS tenant_keys,
          t.now AS db_now;

-- name: execution_read_started
-- The attempts of runs inserted already started by their dispatcher for its own process
-- (execution_insert_many): what execution_start_attempts returns, read without a write, from
-- the same view. Only runs still in that first attempt are returned: one cancelled meanwhile
-- (its schedule deleted) is not sent. No lock: the dispatcher's commit made these rows, and
-- only this process holds their job. Each run looked up by its whole key, as
-- execution_batch_runs does and for its reason (a crowded instant, stale statistics).
SELECT r.id, r.trigger_id, r.workflow_id, r.scheduled_at, r.fire_at, r.attempts, r.trigger,
       r.tenant, r.input, r.target_url, r.timeout_seconds, r.max_attempts,
       r.retry_backoff_seconds, r.completion_timeout_seconds,
       -- The same signing keys as execution_start_attempts' (a function would not be inlined:
       -- it has a FROM, so it would run as a call per row).
       CASE WHEN r.target_url IS NOT NULL THEN coalesce(
           (SELECT array_agg(k.secret ORDER BY k.created_at DESC)
            FROM tenant_signing_keys k
            WHERE k.tenant = r.tenant
              AND (k.expires_at IS NULL OR k.expires_at > t.now)),
           '{}'::text[]) END AS tenant_keys,
       t.now AS db_now
FROM unnest(%(ids)b::uuid[], %(id_slots)b::timestamptz[]) AS k(id, scheduled_at),
     LATERAL (SELECT r.* FROM workflow_execution_attempt_specs r
              WHERE r.id = k.id AND r.scheduled_at = k.scheduled_at
                AND r.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
              OFFSET 0) AS r,
     (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now) AS t
WHERE r.status = 'running' AND r.attempts = 1;

-- name: execution_running_by_tenant
-- Each tenant's runs `running`, counted up to %(count_limit)s on the partial index of running
-- runs (more cannot change the answer of app/services/attempts.py `start_without_lock`, which
-- holds the tenants' in-flight locks and the fleet lock shared before it runs this, so this
-- snapshot is later than those locks), the worker processes alive, and whether the caller's
-- process holds its seat among them (both once for the statement). No lock of its own.
SELECT t.tenant,
       (SELECT count(*) FROM (
            SELECT 1 FROM workflow_schedule_executions r
            WHERE r.tenant = t.tenant AND r.status = 'running'
            LIMIT %(count_limit)s) AS c) AS running,
       f.processes, f.seated
FROM unnest(%(tenants)s::text[]) AS t(tenant),
     (SELECT
         -- The worker processes alive (a loop of theirs reported within its stale time): how
         -- many start runs at once without the lock (app/services/attempts.py
         -- `racing_starts`).
         (SELECT count(DISTINCT h.process_id) FROM worker_loop_health h
          WHERE h.reported_at > s.now - make_interval(secs => h.stale_after_seconds))
             AS processes,
         -- The caller's seat (docs/architecture.md, "The fleet seat"; migration 0032's
         -- wfs_fleet_seated): taken or kept by a health report younger than half its stale
         -- time, so every other process's count above finds it alive for at least that half
         -- again. Without it (never taken, its reports failing or refused their seat, or its
         -- rows deleted at a stop), its runs start under the tenant's lock.
         wfs_fleet_seated(%(process_id)s, s.now)
             AS seated
      FROM (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now) AS s) AS f;

-- name: execution_batch_runs
-- A batch's start: of its runs (`ids` and, pairwise, `id_slots`), those still unfinished,
-- whether their schedule is there (a schedule of another tenant with the same id does not
-- count: ids are owned, but never trust it here), whether they are still in their first
-- attempt (`running`, attempt 1), and the database clock. A run inserted started whose
-- attempt its dispatcher built is sent only if so (a process that took over its job after
-- this one's heartbeat fell silent may have started it again, or it ended).
-- Each run is looked up by its whole key in the primary key, one after the other. Given the
-- ids and the slots as two lists to match, a planner whose statistics predate a crowded
-- instant (its runs inserted seconds before, into a partition analysed empty: the top of
-- the hour, the first minutes of a day's partition at midnight) read the slot key index for
-- every run of the instant and intersected that with the ids, at every batch's start (the
-- burst's costliest statement by far: docs/benchmarks.md, eleventh stop). `scheduled_ats`,
-- the distinct slots, keeps the plan to their partitions (a generic plan of PostgreSQL 15
-- still locks every one).
SELECT r.id, r.status = 'running' AND r.attempts = 1 AS first_attempt,
       EXISTS (SELECT 1 FROM workflow_schedules s
               WHERE s.id = r.trigger_id AND s.tenant = r.tenant) AS alive,
       (SELECT coalesce(%(now)s::timestamptz, clock_timestamp())) AS db_now
FROM unnest(%(ids)b::uuid[], %(id_slots)b::timestamptz[]) AS k(id, scheduled_at),
     -- OFFSET 0: not flattened into a join the planner could turn around (the instant's
     -- runs first, which stale statistics count as one). The status is tested outside, so
     -- that no partial index of unfinished runs (its predicate would match) competes with
     -- the primary key for a lookup.
     LATERAL (SELECT r.id, r.status, r.attempts, r.trigger_id, r.tenant
              FROM workflow_schedule_executions r
              WHERE r.id = k.id AND r.scheduled_at = k.scheduled_at
                AND r.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
              OFFSET 0) AS r
WHERE r.status IN ('pending', 'running', 'retrying');

-- name: execution_cancel_orphans
-- Runs of a deleted schedule end `cancelled`, not silently pending forever: those a batch's
-- start found so (execution_batch_runs; rare), re-checked under their row lock.
UPDATE workflow_schedule_executions AS e SET
    status = 'cancelled', finished_at = coalesce(%(now)s::timestamptz, clock_timestamp()),
    error = coalesce(e.error, 'cancelled: the schedule was deleted')
FROM unnest(%(ids)b::uuid[], %(id_slots)b::timestamptz[]) AS k(id, scheduled_at)
WHERE e.id = k.id AND e.scheduled_at = k.scheduled_at
  AND e.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
  -- A CASE, as in execution_finish_many and for its reason: the run on the primary key, not
  -- by the index of unfinished runs (its predicate matches `status IN (...)`).
  AND CASE WHEN e.status IN ('pending', 'running', 'retrying') THEN true ELSE false END
  AND NOT EXISTS (SELECT 1 FROM workflow_schedules s
                  WHERE s.id = e.trigger_id AND s.tenant = e.tenant)
RETURNING e.id;

-- name: execution_cancel_waiting
-- DELETE of a schedule: its runs that wait (pending, buffered, or retrying between attempts)
-- end `cancelled` in the same transaction, so none of them is sent after the delete. A run
-- in the middle of an attempt is left to finish it (its outcome is real); its retries, if
-- any, are cancelled at their start (execution_cancel_orphans).
UPDATE workflow_schedule_executions SET
    status = 'cancelled', finished_at = coalesce(%(now)s::timestamptz, clock_timestamp()),
    error = coalesce(error, 'cancelled: the schedule was deleted')
WHERE trigger_id = %(trigger_id)s AND tenant = %(tenant)s
  AND status IN ('pending', 'retrying');

-- name: execution_finish_many
-- Records the outcome of one attempt for many runs at once. Terminal outcomes set finished_at
-- to when the answer arrived (`answered_at`, the worker's reading of the database clock), not
-- to when the coalesced write happens; a retry sets when the next attempt may start, counted
-- from the answer too. A 202 makes the run `accepted`: its workflow reports later, by
-- `completion_deadline` (answer + the spec's completionTimeoutSeconds) at the latest, and its
-- duration is known only then. Only the attempt that is still the run's current one is
-- recorded: a finish retried after a database outage must not overwrite a run that recovery
-- has meanwhile started again.
UPDATE workflow_schedule_executions AS e SET
    status = u.status,
    http_status = u.http_status,
    error = u.error,
    workflow_run_id = coalesce(u.workflow_run_id, e.workflow_run_id),
    duration_ms = CASE WHEN u.status = 'accepted' THEN NULL ELSE u.duration_ms END,
    next_attempt_at = CASE WHEN u.retry_delay IS NOT NULL
        THEN a.at + make_interval(secs => u.retry_delay) END,
    finished_at = CASE WHEN u.status IN ('succeeded', 'failed') THEN a.at END,
    accepted_at = CASE WHEN u.status = 'accepted' THEN a.at ELSE e.accepted_at END,
    completion_deadline = CASE WHEN u.status = 'accepted'
        THEN a.at + make_interval(secs => u.completion_timeout) END
FROM unnest(
    %(ids)b::uuid[], %(scheduled_ats)b::timestamptz[], %(statuses)b::text[],
    %(http_statuses)b::integer[], %(errors)b::text[],
    %(workflow_run_ids)b::text[], %(durations)b::integer[], %(retry_delays)b::float8[],
    %(attempts)b::integer[], %(answered_ats)b::timestamptz[],
    %(completion_timeouts)b::integer[]
) AS u(id, scheduled_at, status, http_status, error, workflow_run_id, duration_ms,
       retry_delay, attempt, answered_at, completion_timeout),
    -- The worker's reading of the database clock (it keeps it from going before the
    -- attempt's start, executor.Answer); else the caller's `now`, else the database's.
    LATERAL (SELECT coalesce(u.answered_at, %(now)s::timestamptz, clock_timestamp()) AS at) AS a
WHERE e.id = u.id AND e.scheduled_at = u.scheduled_at
  -- The runs' slots (the executor has them from the start) keep the scan to their partitions.
  AND e.scheduled_at = ANY(%(scheduled_ats)b::timestamptz[])
  -- The status in a form that no partial index's predicate matches (a CASE), so that each
  -- run is found on the primary key: tested as `status = 'running'`, it let the planner
  -- scan the index of running runs instead (its predicate matches) whenever the statistics
  -- counted few runs in flight, and that read every entry it held, those of every run
  -- finished since the partition's last vacuum included (the update of a status is never
  -- HOT, so each leaves one behind; tests/integration/test_claim_contention.py,
  -- docs/benchmarks.md "thirteenth stop").
  AND CASE e.status WHEN 'running' THEN e.attempts = u.attempt ELSE false END
-- In the order of EndedRun's fields (db/repositories/executions.py).
RETURNING e.id, e.trigger_id, e.status, e.started_at, e.next_attempt_at, e.attempts, e.trigger;

-- name: execution_release_buffered
-- buffer_one: when a schedule's runs are all finished, the run that waited becomes a normal
-- pending run (the caller defers its job in the same transaction).
-- By the run's whole key: the update looks it up in its own partition, not in every one.
UPDATE workflow_schedule_executions AS e SET buffered = false
WHERE (e.id, e.scheduled_at) IN (
    SELECT b.id, b.scheduled_at FROM workflow_schedule_executions b
    WHERE b.trigger_id = ANY(%(trigger_ids)b::uuid[]) AND b.status = 'pending' AND b.buffered
      AND NOT EXISTS (
          SELECT 1 FROM workflow_unfinished_executions a
          WHERE a.trigger_id = b.trigger_id AND a.tenant = b.tenant AND NOT a.buffered)
      -- only the oldest waiting run of a schedule
      AND NOT EXISTS (
          SELECT 1 FROM workflow_schedule_executions o
          WHERE o.trigger_id = b.trigger_id AND o.tenant = b.tenant AND o.status = 'pending'
            AND o.buffered AND (o.scheduled_at, o.id) < (b.scheduled_at, b.id))
    FOR UPDATE SKIP LOCKED
)
RETURNING e.id;

-- name: execution_find_orphans
-- The safety net of the recovery sweep: unfinished runs whose job is gone or has ended
-- (a cancelled task, a bug, a job deleted by hand). Their job is deferred again. An `accepted`
-- run has no work left for a job (its workflow reports, or it times out): not an orphan.
-- One window of in-flight runs a pass, in creation order from the caller's cursor: one
-- tenant's many long in-flight runs (retries hours apart, a backlog its cap holds back) cost
-- every worker's pass a window, not all of them; the next passes read on. The window starts
-- at the first run made after the cursor and spans `span_seconds` (the caller sizes it to
-- the runs it finds in it). A window, not the first N runs: it needs no sort, so no plan
-- reads past it (an ORDER BY ... LIMIT on this index was planned as a read and sort of
-- every run after the cursor).
-- At most `limit` orphans a pass, the oldest: the next pass goes on from there.
-- Returns on every row the runs read, where the window ended (the next cursor; NULL: it
-- reached the minimum age, the next pass starts again from the oldest) and that minimum-age
-- bound, and the orphans, each on a row of its own (none: one row without an id).
WITH bounds AS (
    -- (SELECT ...): constants of the query, so the index of in-flight runs (migration 0020)
    -- is read between them; a bare clock_timestamp() is volatile, a filter on a walk of all.
    SELECT b.after, b.before, least(f.first + make_interval(secs => %(span_seconds)s), b.before)
               AS until
    FROM (SELECT %(after)s::timestamptz AS after,
                 coalesce(%(now)s::timestamptz, clock_timestamp())
                     - make_interval(secs => %(min_age_seconds)s) AS before) AS b,
         LATERAL (SELECT min(e.created_at) AS first FROM workflow_schedule_executions e
                  WHERE e.status IN ('pending', 'running', 'retrying') AND NOT e.buffered
                    AND e.created_at > b.after AND e.created_at < b.before) AS f
),
page AS MATERIALIZED (
    SELECT e.id, e.scheduled_at, e.job_id, e.created_at
    FROM workflow_schedule_executions e
    WHERE e.status IN ('pending', 'running', 'retrying') AND NOT e.buffered
      AND e.created_at > (SELECT after FROM bounds)
      AND e.created_at <= (SELECT until FROM bounds)
      AND e.created_at < (SELECT before FROM bounds)
),
lost AS MATERIALIZED (
    -- The first `limit` of the window; when there are more, the next window starts just
    -- before the last of them (see `last` below).
    SELECT p.id, p.scheduled_at, p.job_id, p.created_at FROM page p
    LEFT JOIN procrastinate_jobs j ON j.id = p.job_id
    WHERE j.id IS NULL OR j.status NOT IN ('todo', 'doing')
    ORDER BY p.created_at
    LIMIT %(limit)s
),
orphans AS (
    -- Locked, and checked again under the lock: still in flight, and still with the job it
    -- was found with (another worker may have given it a new one meanwhile; the lock's
    -- recheck would join the new job id to the old snapshot's jobs and find none; a hashed
    -- subplan). The ids as an array taken once (an InitPlan, almost always empty), each
    -- looked up in the primary keys of the partitions between the orphans' first and last
    -- slots.
    SELECT e.id, e.next_attempt_at
    FROM workflow_schedule_executions e
    WHERE e.id = ANY(ARRAY(SELECT id FROM lost))
      AND e.scheduled_at >= (SELECT min(scheduled_at) FROM lost)
      AND e.scheduled_at <= (SELECT max(scheduled_at) FROM lost)
      AND e.status IN ('pending', 'running', 'retrying')
      AND NOT e.buffered
      AND (e.id, coalesce(e.job_id, -1)) IN (SELECT id, coalesce(job_id, -1) FROM lost)
    FOR UPDATE OF e SKIP LOCKED
)
SELECT (SELECT count(*) FROM page) AS read,
       CASE WHEN (SELECT count(*) FROM lost) >= %(limit)s
            -- More orphans than a pass takes: the next window starts just before the last
            -- one taken (those taken have a job by then; the others are read again).
            THEN (SELECT max(created_at) FROM lost) - interval '1 microsecond'
            ELSE (SELECT CASE WHEN until < before THEN until END FROM bounds)
       END AS last,
       (SELECT before FROM bounds) AS head,
       o.id, o.next_attempt_at
FROM (SELECT) AS one
LEFT JOIN orphans o ON true;

-- name: execution_find_unreleased_buffered
-- buffer_one runs left waiting although nothing of their schedule runs any more (the finisher
-- crashed between the two steps): released by the recovery sweep.
SELECT DISTINCT b.trigger_id
FROM workflow_schedule_executions b
WHERE b.status = 'pending' AND b.buffered
  AND NOT EXISTS (
      SELECT 1 FROM workflow_unfinished_executions a
      WHERE a.trigger_id = b.trigger_id AND a.tenant = b.tenant AND NOT a.buffered)
LIMIT %(limit)s;

-- name: execution_get
SELECT * FROM workflow_schedule_executions WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: execution_get_at
-- A run whose slot the caller knows (it has just read or written it): its own partition only.
SELECT * FROM workflow_schedule_executions
WHERE id = %(id)s AND scheduled_at = %(scheduled_at)s AND tenant = %(tenant)s;

-- name: execution_latest
-- A schedule's newest slot: the slot key's index read backwards, one row.
SELECT * FROM workflow_schedule_executions
WHERE trigger_id = %(trigger_id)s AND tenant = %(tenant)s
ORDER BY scheduled_at DESC LIMIT 1;

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
