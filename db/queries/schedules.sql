-- name: schedule_insert
INSERT INTO workflow_schedules (
    id, tenant, workflow_id, cron_expression, timezone, enabled, state, pause_note,
    overlap_policy, misfire_policy, misfire_grace_seconds, catchup_window_seconds, max_attempts,
    retry_backoff_seconds, timeout_seconds, jitter_seconds, start_at, end_at, remaining_runs,
    pause_after_failures, input, target_url, next_run_at, next_fire_at, created_at, updated_at,
    completion_timeout_seconds, late_after_seconds
) VALUES (
    %(id)s, %(tenant)s, %(workflow_id)s, %(cron_expression)s, %(timezone)s, %(enabled)s,
    %(state)s, %(pause_note)s, %(overlap_policy)s, %(misfire_policy)s,
    %(misfire_grace_seconds)s, %(catchup_window_seconds)s, %(max_attempts)s,
    %(retry_backoff_seconds)s, %(timeout_seconds)s, %(jitter_seconds)s, %(start_at)s,
    %(end_at)s, %(remaining_runs)s, %(pause_after_failures)s, %(input)s, %(target_url)s,
    %(next_run_at)s, %(next_fire_at)s, %(now)s, %(now)s, %(completion_timeout_seconds)s,
    %(late_after_seconds)s
)
-- A client-chosen id already taken (by anyone) inserts nothing; the service answers 409.
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: schedule_get
SELECT * FROM workflow_schedules WHERE id = %(id)s AND tenant = %(tenant)s;

-- name: schedule_get_for_update
-- Row lock so that two concurrent changes of one schedule serialize instead of one
-- overwriting the other's recomputed next slot. The tenant is part of the condition, so it is
-- checked before the lock: another tenant's request locks nothing (a row it names is filtered
-- out before FOR UPDATE applies), so it can neither delay the owner nor hide the row from the
-- dispatcher's SKIP LOCKED claim.
SELECT * FROM workflow_schedules WHERE id = %(id)s AND tenant = %(tenant)s FOR UPDATE;

-- name: schedule_id_taken
-- Whether any tenant has a schedule with this id; reads without locking anything.
SELECT EXISTS (SELECT 1 FROM workflow_schedules WHERE id = %(id)s) AS taken;

-- name: schedule_update
-- Writes every mutable column; `version` guards against lost updates (optimistic concurrency):
-- the caller passes the version it read, and no row comes back if someone changed it since.
UPDATE workflow_schedules SET
    workflow_id = %(workflow_id)s,
    cron_expression = %(cron_expression)s,
    timezone = %(timezone)s,
    enabled = %(enabled)s,
    state = %(state)s,
    pause_note = %(pause_note)s,
    overlap_policy = %(overlap_policy)s,
    misfire_policy = %(misfire_policy)s,
    misfire_grace_seconds = %(misfire_grace_seconds)s,
    catchup_window_seconds = %(catchup_window_seconds)s,
    max_attempts = %(max_attempts)s,
    retry_backoff_seconds = %(retry_backoff_seconds)s,
    timeout_seconds = %(timeout_seconds)s,
    completion_timeout_seconds = %(completion_timeout_seconds)s,
    late_after_seconds = %(late_after_seconds)s,
    jitter_seconds = %(jitter_seconds)s,
    start_at = %(start_at)s,
    end_at = %(end_at)s,
    remaining_runs = %(remaining_runs)s,
    pause_after_failures = %(pause_after_failures)s,
    input = %(input)s,
    target_url = %(target_url)s,
    next_run_at = %(next_run_at)s,
    next_fire_at = %(next_fire_at)s,
    updated_at = %(now)s,
    version = version + 1
WHERE id = %(id)s AND tenant = %(tenant)s AND version = %(version)s
RETURNING *;

-- name: schedule_delete
DELETE FROM workflow_schedules WHERE id = %(id)s AND tenant = %(tenant)s RETURNING id;

-- name: schedule_list
-- Keyset pagination in (created_at, id) order: stable under inserts, no OFFSET scans.
SELECT * FROM workflow_schedules
WHERE tenant = %(tenant)s
  AND (%(workflow_id)s::text IS NULL OR workflow_id = %(workflow_id)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (created_at, id) > (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: schedule_list_admin
-- The operator's view (`scheduler status`): every tenant, or one.
SELECT * FROM workflow_schedules
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
ORDER BY tenant, next_fire_at NULLS LAST, created_at
LIMIT %(limit)s;

-- name: schedule_get_any
SELECT * FROM workflow_schedules WHERE id = %(id)s;

-- name: schedule_counts_by_state
-- The tenant's schedules by state (GET /api/stats): a range of the tenant's listing index.
SELECT state, count(*)::bigint AS n FROM workflow_schedules
WHERE tenant = %(tenant)s GROUP BY state;

-- name: schedule_lock_for_incidents
-- The schedules an incident is about to open for, locked in id order (like schedule_lock_many:
-- concurrent writers never deadlock), with what a new incident copies from them.
SELECT id, tenant, workflow_id, late_after_seconds
FROM workflow_schedules
WHERE id = ANY(%(ids)s::uuid[])
ORDER BY id
FOR NO KEY UPDATE;

-- name: schedule_try_lock_for_incidents
-- The watcher's variant: the schedules among these that no other transaction holds, locked
-- (SKIP LOCKED). A worker frozen (SIGSTOP) in the middle of a dispatch pass holds its
-- schedules' locks until it continues; the watcher goes on with every other schedule.
SELECT id, tenant, workflow_id, late_after_seconds
FROM workflow_schedules
WHERE id = ANY(%(ids)s::uuid[])
ORDER BY id
FOR NO KEY UPDATE SKIP LOCKED;

-- name: schedule_due_backlog
-- /metrics (bounded, as jobs.sql's job_queue_depth says why): active schedules whose fire
-- instant passed more than a second ago, work the dispatchers have not caught up with (0 in a
-- healthy system). A range of the partial index workflow_schedules_due_idx, at most `cap`
-- entries of it.
SELECT count(*)::bigint AS n FROM (
    SELECT 1 FROM workflow_schedules
    WHERE state = 'active'
      AND next_fire_at < coalesce(%(now)s::timestamptz, clock_timestamp()) - interval '1 second'
    LIMIT %(cap)s
) AS due;

-- name: schedule_table_bytes
-- /metrics: the size of the schedules table's main fork (no TOAST), whether an exact count by
-- state is cheap.
SELECT pg_relation_size('workflow_schedules'::regclass) AS bytes;

-- name: schedule_counts_all_by_state
-- /metrics: exact, by a scan; only used while the table is small (see schedule_table_bytes).
SELECT state, count(*)::bigint AS n FROM workflow_schedules GROUP BY state;

-- name: schedule_counts_all_by_state_estimate
-- /metrics: the planner's estimate, reading no row of the table: its row count (pg_class.reltuples, kept by
-- VACUUM/ANALYZE) times the frequency of each state among ANALYZE's sample (pg_stats). Nothing
-- comes back before the table's first ANALYZE (autovacuum runs one after a bulk load).
SELECT mcv.state, round(c.reltuples * mcv.freq)::bigint AS n
FROM pg_class AS c
CROSS JOIN LATERAL (
    SELECT unnest(s.most_common_vals::text::text[]) AS state,
           unnest(s.most_common_freqs) AS freq
    FROM pg_stats AS s
    WHERE s.schemaname = current_schema()
      AND s.tablename = 'workflow_schedules'
      AND s.attname = 'state'
) AS mcv
WHERE c.oid = 'workflow_schedules'::regclass AND c.reltuples >= 0;

-- name: schedule_get_many_for_update
-- The tenant's schedules among %(ids)s, locked until the transaction ends. One primary-key
-- lookup per id (LATERAL): with `id = ANY(...) AND tenant = ...` the planner may walk the
-- tenant's listing index instead, which a tenant bulk-loading its schedules makes longer with
-- every batch (seconds per batch at 50,000 rows before ANALYZE). The caller passes the ids
-- sorted, so two batches naming the same schedules lock them in the same order (no deadlock).
-- As in schedule_get_for_update, another tenant's row is filtered out before the lock.
SELECT s.*
FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS wanted(id, n)
CROSS JOIN LATERAL (
    SELECT * FROM workflow_schedules w
    WHERE w.id = wanted.id AND w.tenant = %(tenant)s
    FOR UPDATE
) AS s
ORDER BY wanted.n;

-- name: schedule_ids_owned_elsewhere
-- Which of %(ids)s another tenant owns (a live schedule or its history, migration 0005): a
-- create with such an id would insert nothing.
SELECT id FROM workflow_schedule_owners
WHERE id = ANY(%(ids)s::uuid[]) AND tenant <> %(tenant)s;

-- name: schedule_insert_many
-- schedule_insert for many rows in one statement (a batch: one round trip, and the statement
-- triggers, run specs and NOTIFY, run once). Callers pass the rows in id order, so concurrent
-- batches that insert the same new ids wait on each other in the same order. An id already
-- taken, or owned by another tenant (the claim trigger drops the row), inserts nothing and is
-- missing from the ids returned.
INSERT INTO workflow_schedules (
    id, tenant, workflow_id, cron_expression, timezone, enabled, state, pause_note,
    overlap_policy, misfire_policy, misfire_grace_seconds, catchup_window_seconds, max_attempts,
    retry_backoff_seconds, timeout_seconds, jitter_seconds, start_at, end_at, remaining_runs,
    pause_after_failures, input, target_url, next_run_at, next_fire_at,
    completion_timeout_seconds, late_after_seconds, created_at, updated_at
)
SELECT r.*, %(now)s::timestamptz, %(now)s::timestamptz
FROM unnest(
    %(id)s::uuid[], %(tenant)s::text[], %(workflow_id)s::text[], %(cron_expression)s::text[],
    %(timezone)s::text[], %(enabled)s::boolean[], %(state)s::text[], %(pause_note)s::text[],
    %(overlap_policy)s::text[], %(misfire_policy)s::text[],
    %(misfire_grace_seconds)s::integer[], %(catchup_window_seconds)s::integer[],
    %(max_attempts)s::integer[], %(retry_backoff_seconds)s::double precision[],
    %(timeout_seconds)s::double precision[], %(jitter_seconds)s::integer[],
    %(start_at)s::timestamptz[], %(end_at)s::timestamptz[], %(remaining_runs)s::integer[],
    %(pause_after_failures)s::integer[], %(input)s::jsonb[], %(target_url)s::text[],
    %(next_run_at)s::timestamptz[], %(next_fire_at)s::timestamptz[],
    %(completion_timeout_seconds)s::integer[], %(late_after_seconds)s::integer[]
) AS r
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- ---------------------------------------------------------------------------------------------
-- The dispatcher's statements on schedules (db/repositories/schedules.py, the matching section):
-- the claim of due schedules, when to wake up, the advance after a pass, and what runs' ends
-- change (last status, failure streak, pauseAfterFailures). Every one that reads the clock
-- takes `now` (tests) and falls back to the database's.
-- ---------------------------------------------------------------------------------------------

-- name: schedule_claim_due
-- The dispatcher's claim (SPEC §4.1): active schedules due within `lookahead` seconds, or in
-- the crowded second [crowd_from, crowd_until) and within `crowd_lookahead` seconds (all NULL:
-- no crowd), oldest fire instant first (their runs wait for the exact instant in the executor). SKIP
-- LOCKED lets any number of dispatchers run at once without waiting on each other: a row
-- another dispatcher holds is simply not seen. The database clock decides what is due.
-- The unfinished-run counts feed the overlap policy (allow_all does not need them); what is
-- unfinished is workflow_unfinished_executions (migration 0012): a run `accepted` by its
-- target stays unfinished until its workflow reports. No unfinished
-- run is older than the unfinished floor (migration 0010): with it, only the history's
-- partitions from the floor on are read, not every partition's index.
-- A schedule taken ahead of its instant had no unfinished run (the last condition below, in
-- the same snapshot), so its counts are 0 without counting: in a steady run nearly every claim
-- is ahead, and each count probed every partition of the history (one a day, created ahead):
-- ~10 buffers a claimed row. `now` is read once (the CTE), so that "ahead" is the same instant
-- in the counts and in the condition.
WITH t AS MATERIALIZED (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now)
SELECT s.*,
       clock_timestamp() AS db_now,
       CASE WHEN s.overlap_policy = 'allow_all' OR s.next_fire_at > (SELECT now FROM t)
            THEN 0 ELSE (
           SELECT count(*) FROM workflow_unfinished_executions e
           WHERE e.trigger_id = s.id AND e.tenant = s.tenant
             AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
             AND NOT e.buffered) END
           AS active_runs,
       CASE WHEN s.overlap_policy <> 'buffer_one' OR s.next_fire_at > (SELECT now FROM t)
            THEN 0 ELSE (
           SELECT count(*) FROM workflow_schedule_executions e
           WHERE e.trigger_id = s.id AND e.tenant = s.tenant AND e.status = 'pending'
             AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
             AND e.buffered) END
           AS buffered_runs
FROM workflow_schedules s
WHERE s.state = 'active'
  -- (SELECT ...) makes the bound a constant of the query, so the partial index on
  -- next_fire_at is searched up to it; a bare clock_timestamp() is volatile, and would be a
  -- filter on a scan of the whole index (docs/benchmarks.md).
  AND s.next_fire_at <= (SELECT greatest(t.now + make_interval(secs => %(lookahead)s),
                                         least(t.now + make_interval(secs => %(crowd_lookahead)s),
                                               %(crowd_until)s::timestamptz))
                         FROM t)
  -- A crowded second is dispatched from far ahead (its lead grows with its slots), but only
  -- its own schedules: one due between the short lead and the crowd keeps the short lead
  -- (an every-second schedule would otherwise be dispatched once per second of the crowd's
  -- lead, each run a committed decision). One ordered range scan with a filter, not an OR of
  -- two ranges: a bitmap of the crowd's 100,000 rows would be sorted again by every pass.
  AND (s.next_fire_at <= (SELECT t.now + make_interval(secs => %(lookahead)s) FROM t)
       OR s.next_fire_at >= %(crowd_from)s::timestamptz)
  -- Ahead of its instant, a schedule whose overlap policy looks at unfinished runs is taken
  -- only when it has none: whether the previous run overlaps is decided at the instant.
  -- (schedule_next_fire repeats this condition, so the dispatcher does not wake for it.)
  -- One probe of the schedule's own runs each (OFFSET 0: never one read of every unfinished
  -- run per claim, which the planner prefers while it expects few and keeps in the generic
  -- plan of a prepared claim: another tenant's backlog of accepted runs was read by every
  -- claim of everyone, docs/history-partitions.md). Its slots from the unfinished floor to
  -- the schedule's next instant: the runs of a schedule taken ahead are of earlier slots (the
  -- dispatcher's, retries, a backfill's or a manual run's, none later than now), and the
  -- bound keeps the probe to the partitions of that range (the ones made ahead are skipped)
  -- and to the partial index of unfinished runs, keyed by (schedule, slot) (migration 0019).
  -- (A cron changed while a crowd's runs were dispatched far ahead can leave a run of a later
  -- slot than the new next instant; that run does not hold the new slot back.)
  -- First, without a probe: a schedule whose latest dispatched run is not even due yet
  -- (`dispatched_fire_at` ahead of now: not sent, so unfinished) waits, as in the wake-up;
  -- right after a pass dispatched an instant ahead, that is every schedule of the next one.
  AND (s.next_fire_at <= (SELECT now FROM t)
       OR s.overlap_policy = 'allow_all'
       OR (coalesce(s.dispatched_fire_at <= (SELECT now FROM t), true) AND NOT EXISTS (
           SELECT 1 FROM workflow_unfinished_executions e
           WHERE e.trigger_id = s.id
             AND e.scheduled_at >= (SELECT at FROM workflow_history_unfinished_floor)
             AND e.scheduled_at <= s.next_fire_at
           OFFSET 0)))
  -- The row as this statement's snapshot holds it. Another dispatcher's pass committed after
  -- that snapshot may have moved the schedule (sent its slot, advanced it): locking the row,
  -- READ COMMITTED re-checks the conditions above on the moved row but reads the unfinished
  -- runs in the old snapshot, without the run just sent, so the next slot would be taken
  -- ahead (or counted) as if that run had ended. Such a schedule waits for the next pass.
  -- A boolean subquery, not `s.next_fire_at = (SELECT ...)`: the planner takes an equality to
  -- keep 1 row in 200 and would plan the claim (its scan of due schedules, its sort) for
  -- one row; a bare boolean keeps half.
  AND (SELECT o.next_fire_at = s.next_fire_at FROM workflow_schedules o WHERE o.id = s.id)
ORDER BY s.next_fire_at
LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED;

-- name: schedule_next_fire
-- When the dispatcher should wake next, measured on the database clock, how many slots fall
-- in the second that starts then (counted up to `count_limit`), so that a crowded second is
-- dispatched earlier, and how many dispatchers share that work (worker processes whose
-- dispatch loop reported within its stale time; at least 1: this one).
-- The count walks the due index from the earliest instant: an index-only scan while the
-- visibility map is current, else one heap visit per slot (docs/benchmarks.md); `count_limit`
-- bounds it.
-- `first_goes_ahead` is false when every schedule at that instant is one the claim leaves for
-- its instant (see schedule_claim_due: its overlap policy looks at unfinished runs and it has
-- one): waking `lookahead` early for it would find nothing to claim, again and again until the
-- instant (a busy loop, docs/reliability.md). The dispatcher looks again every so often.
WITH t AS (SELECT coalesce(%(now)s::timestamptz, clock_timestamp()) AS now),
first AS (SELECT min(next_fire_at) AS at FROM workflow_schedules WHERE state = 'active')
SELECT first.at AS next_fire_at,
       t.now AS db_now,
       (SELECT count(*) FROM (
            SELECT 1 FROM workflow_schedules
            WHERE state = 'active' AND next_fire_at < first.at + interval '1 second'
            LIMIT %(count_limit)s) AS crowd) AS due_in_second,
       greatest(1, (SELECT count(*) FROM worker_loop_health h
                    WHERE h.loop = 'dispatch'
                      AND h.reported_at > t.now - make_interval(secs => h.stale_after_seconds)))
           AS dispatchers,
       -- The planner's idea of the table's size: a crowd larger than it means the statistics
       -- predate the crowd (schedules created in bulk since the last ANALYZE).
       (SELECT reltuples::bigint FROM pg_class WHERE oid = 'workflow_schedules'::regclass)
           AS planned_rows,
       -- The claim's condition, on the due index (equality), stopping at the first schedule
       -- that can go ahead. One more: a schedule whose latest dispatched run is not
       -- even due yet (`dispatched_fire_at` ahead of now: not sent, so unfinished) waits
       -- without a probe of the history (migration 0017); that is every schedule of the next
       -- instant right after a pass dispatched this one ahead.
       first.at <= t.now OR EXISTS (
           SELECT 1 FROM workflow_schedules s
           WHERE s.state = 'active' AND s.next_fire_at = first.at
             AND (s.overlap_policy = 'allow_all' OR (
                 coalesce(s.dispatched_fire_at <= t.now, true) AND NOT EXISTS (
                     SELECT 1 FROM workflow_unfinished_executions e
                     WHERE e.trigger_id = s.id
                       AND e.scheduled_at
                           >= (SELECT at FROM workflow_history_unfinished_floor)
                       AND e.scheduled_at <= s.next_fire_at
                     OFFSET 0))))  -- a probe per schedule, as in the claim
           AS first_goes_ahead
FROM first, t;

-- name: schedule_analyze
-- Fresh statistics for the claim's plan. With statistics taken before a crowd of schedules was
-- created, the claim of a crowded second is planned for a few rows: a bitmap scan of the whole
-- crowd, sorted again by every pass (docs/benchmarks.md). ANALYZE samples a bounded number of
-- rows; a role that does not own the table gets a warning, not an error.
ANALYZE workflow_schedules;

-- name: schedule_advance_many
-- Moves each claimed schedule to its next slot after a pass. Not a user change: `version`
-- stays, so a client's If-Match is not broken by every fire.
UPDATE workflow_schedules AS s SET
    state = u.state,
    next_run_at = u.next_run_at,
    next_fire_at = u.next_fire_at,
    remaining_runs = u.remaining_runs,
    missed_uncounted = s.missed_uncounted + u.missed_uncounted,
    dispatched_fire_at = coalesce(u.dispatched_fire_at, s.dispatched_fire_at),
    updated_at = coalesce(%(now)s::timestamptz, clock_timestamp())
FROM unnest(
    %(ids)b::uuid[], %(states)b::text[], %(next_run_ats)b::timestamptz[],
    %(next_fire_ats)b::timestamptz[], %(remaining_runs)b::integer[],
    %(missed_uncounted)b::bigint[], %(dispatched_fire_ats)b::timestamptz[]
) AS u(id, state, next_run_at, next_fire_at, remaining_runs, missed_uncounted,
       dispatched_fire_at)
WHERE s.id = u.id;

-- name: schedule_pause_unusable
-- A claimed schedule that cannot be planned any more (a stored zone that a tzdata upgrade
-- removed, a cron expression this version refuses) is paused with a note saying why, in the
-- pass that found it, so that one bad row cannot stop every schedule behind it. A change of
-- the schedule: its version moves.
UPDATE workflow_schedules AS s SET
    enabled = false,
    state = 'paused',
    next_run_at = NULL,
    next_fire_at = NULL,
    pause_note = u.note,
    version = s.version + 1,
    updated_at = coalesce(%(now)s::timestamptz, clock_timestamp())
FROM unnest(%(ids)s::uuid[], %(notes)s::text[]) AS u(id, note)
WHERE s.id = u.id;

-- name: schedule_lock_many
-- Row locks on several schedules, taken in id order: finishers that record outcomes of
-- overlapping sets of schedules at the same moment (a catch-up burst next to a regular batch)
-- wait for each other and never deadlock, whatever order schedule_record_outcomes' plan
-- then visits the rows in.
SELECT id FROM workflow_schedules
WHERE id = ANY(%(ids)b::uuid[])
ORDER BY id
FOR NO KEY UPDATE;

-- name: schedule_record_outcomes
-- After runs end: each schedule's last run, last status and consecutive-failure streak (the
-- caller summarises a batch per schedule: its trailing failures, and whether a success reset
-- the streak). pauseAfterFailures pauses a schedule whose streak reaches it, with a note saying
-- so (SPEC §2); that is a change of the schedule, so its version moves.
-- Returns, for each schedule, whether it was paused, whether its overlap policy is
-- buffer_one: only such a schedule can have a buffered run to release (the release's planning
-- alone cost 2.15 µs a slot when it ran after every end, docs/benchmarks.md), and whether it
-- has an incident open that an ended run resolves (run.failed, slot.missed): without one, its
-- successes resolve nothing and make no event (app/services/attempts.py `_incident_events`).
-- The caller holds the schedules' locks, which every writer of their incidents takes first
-- (app/services/incidents.py), so none opens after this reading.
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
    updated_at = CASE WHEN c.pause THEN coalesce(%(now)s::timestamptz, clock_timestamp())
                      ELSE s.updated_at END
FROM (
    SELECT cur.id, m.last_status, m.last_run_at, streaks.streak,
           (cur.state = 'active' AND cur.pause_after_failures IS NOT NULL
            AND streaks.streak >= cur.pause_after_failures) AS pause
    FROM unnest(
        %(trigger_ids)b::uuid[], %(last_statuses)b::text[], %(last_run_ats)b::timestamptz[],
        %(trailing_failures)b::integer[], %(resets)b::boolean[]
    ) AS m(trigger_id, last_status, last_run_at, trailing_failures, reset)
    JOIN workflow_schedules cur ON cur.id = m.trigger_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN m.reset THEN m.trailing_failures
                    ELSE cur.consecutive_failures + m.trailing_failures END AS streak
    ) AS streaks
) AS c
WHERE s.id = c.id
RETURNING s.id, c.pause AS paused, s.overlap_policy = 'buffer_one' AS buffers_one,
          EXISTS (SELECT 1 FROM alert_incidents i
                  WHERE i.trigger_id = s.id AND i.state = 'open'
                    AND i.kind IN ('run.failed', 'slot.missed')) AS resolvable;

-- name: schedule_changes_listen
-- Subscribes the session to the notification the workflow_schedules triggers send when a
-- schedule may be due sooner: created, made active, its next fire instant moved earlier
-- (migration 0029; every change before). PostgreSQL delivers a notification only to the sessions listening
-- when its transaction commits: a listener that connects again must assume it missed some.
LISTEN workflow_schedules_changed;
